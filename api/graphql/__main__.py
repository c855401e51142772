"""``python -m api.graphql``: refresh the published schema file, api/schema.graphql."""

from .schema import SDL_PATH, export_sdl

SDL_PATH.write_text(export_sdl())
print(f"wrote {SDL_PATH}")
