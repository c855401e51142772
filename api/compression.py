"""Compression of large answers, when the client asks (``Accept-Encoding: br`` or ``gzip``).

Litestar's CompressionMiddleware, placed outermost (first) in the app's middleware, so that the
caching middleware (``api.caching``) sees and marks the plain JSON. Answers shorter than
``MIN_BYTES`` go out as they are. The middleware adds ``Vary: Accept-Encoding`` to what it
compresses; ``coding`` tells the caching middleware which coding an answer will go out in, so
that the ETag differs between representations (RFC 9110 section 8.8.3).
"""

from __future__ import annotations

from litestar.config.compression import CompressionConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.compression import CompressionMiddleware

MIN_BYTES = 1024

COMPRESSION = DefineMiddleware(
    CompressionMiddleware,
    config=CompressionConfig(backend="brotli", minimum_size=MIN_BYTES),
)


def coding(accept_encoding: str | None, length: int) -> str | None:
    """The content coding an answer of ``length`` bytes goes out in: the middleware's rule
    (a substring test, brotli first, then gzip), or None when it is sent as it is."""
    if not accept_encoding or length < MIN_BYTES:
        return None
    if "br" in accept_encoding:
        return "br"
    return "gzip" if "gzip" in accept_encoding else None
