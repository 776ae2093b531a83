"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (Redoc), served with
their scripts and styles from vigil itself.

FastAPI's own pages load Swagger UI and Redoc from a public CDN: blank without internet, and
every reader's visit told a third party. The assets are vendored under ``static/apidocs/``
(``scripts/vendor-apidocs``: Swagger UI 5, the first series that renders the OpenAPI 3.1 that
FastAPI emits, and Redoc 2, each with its licence), so the pages need nothing but this server
and a ``pip install`` brings everything. The pages start their viewers from files of their own,
never from inline scripts, so they carry a Content-Security-Policy that allows only this
origin's scripts.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

from vigil.web.render import PREFIX

#: The vendored assets: the ``apidocs/`` folder of the workspace's static files (``app.py``).
ASSETS = f"{PREFIX}/static/apidocs"

#: Only this origin's scripts, styles and images. Swagger UI draws its icons from ``data:``
#: images and sets inline styles; Redoc injects its styles as ``<style>`` elements and runs its
#: search index in a worker made from a ``blob:`` URL.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")

HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n",
        headers=HEADERS)


def swagger_ui(request: Request) -> HTMLResponse:
    """``GET /docs``: Swagger UI on this server's OpenAPI description. Public, like the
    description itself."""
    root = escape(request.scope.get("root_path", ""))
    openapi = escape(request.app.openapi_url or "/openapi.json")
    return _page(
        f"{request.app.title} API (Swagger UI)",
        f"<link rel=\"stylesheet\" href=\"{root}{ASSETS}/swagger-ui.css\">\n",
        "<div id=\"swagger-ui\"></div>\n"
        f"<script src=\"{root}{ASSETS}/swagger-ui-bundle.js\"></script>\n"
        f"<script src=\"{root}{ASSETS}/swagger-init.js\" data-openapi=\"{root}{openapi}\"></script>\n")


def redoc(request: Request) -> HTMLResponse:
    """``GET /redoc``: Redoc on this server's OpenAPI description (no web fonts: the system's
    own)."""
    root = escape(request.scope.get("root_path", ""))
    openapi = escape(request.app.openapi_url or "/openapi.json")
    return _page(
        f"{request.app.title} API (Redoc)", "",
        f"<redoc spec-url=\"{root}{openapi}\"></redoc>\n"
        f"<script src=\"{root}{ASSETS}/redoc.standalone.js\"></script>\n")
