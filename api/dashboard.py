"""The exposure dashboard at ``/``: one HTML page whose scripts and styles are the app's own
files under ``/static/dashboard`` (no CDN). The page is a client of ``/graphql`` like any
other; in production it asks for an API key and sends it as ``Authorization: Bearer``.
See docs/dashboard.md."""

from __future__ import annotations

from pathlib import Path

from litestar import MediaType, get
from litestar.response import Response

INDEX_HTML = (Path(__file__).resolve().parent / "static" / "dashboard" / "index.html").read_bytes()


@get("/", sync_to_thread=False, include_in_schema=False)
def dashboard() -> Response[bytes]:
    """The dashboard's page; everything it loads is under /static/dashboard."""
    return Response(
        INDEX_HTML,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-cache"},
    )
