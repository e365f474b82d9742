"""The small web page and its three assets (script, stylesheet, image).

Only the files listed in ASSETS are served, from memory, so the page's
subresources are exactly what the CSP/COEP checks reason about.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from .responses import problem

ASSETS: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "logo.svg": "image/svg+xml",
}


def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class WebAssets:
    """The index page and assets, read once."""

    def __init__(self) -> None:
        self.index = _read("index.html")
        self.assets = {name: _read(name) for name in ASSETS}

    async def index_page(self, request: Request) -> Response:
        """GET /."""
        return Response(self.index, media_type="text/html; charset=utf-8")

    async def asset(self, request: Request) -> Response:
        """GET /static/{name}."""
        name = request.path_params["name"]
        body = self.assets.get(name)
        if body is None:
            return problem(404, "not-found", "Not found", f"no asset {name!r}")
        return Response(body, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
