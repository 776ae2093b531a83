"""The API's documentation pages work without internet: ``/docs`` and ``/redoc`` load every
script and style from vigil itself, and in a real browser that may reach nothing but this
server they show the API's operations."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import make_client
from tests.fixtures.browser import Live
from vigil.migrations import upgrade

STATIC = Path(__file__).resolve().parents[2] / "src" / "vigil" / "web" / "static" / "apidocs"


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(str(a["src"]))
        if tag == "link" and a.get("href"):
            self.urls.append(str(a["href"]))
        if tag == "redoc" and a.get("spec-url"):
            self.urls.append(str(a["spec-url"]))
        if a.get("data-openapi"):
            self.urls.append(str(a["data-openapi"]))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("apidocs")
    url = f"sqlite:///{data / 'vigil.db'}"
    upgrade(url)
    with make_client(url, data) as c:
        yield c


@pytest.mark.parametrize(("path", "viewer"), [("/docs", "swagger-ui-bundle.js"),
                                              ("/redoc", "redoc.standalone.js")])
def test_the_pages_load_everything_from_this_server(client: TestClient, path: str, viewer: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(r.text)
    assert any(u.endswith(viewer) for u in parser.urls), parser.urls
    assert "/openapi.json" in parser.urls
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), f"{url} is not same-origin"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content.strip(), url
    # No inline script: the page's policy allows this origin's scripts only.
    assert re.search(r"<script(?![^>]*\bsrc=)", r.text) is None
    csp = r.headers["content-security-policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert script_src.split() == ["script-src", "'self'"]


def test_the_assets_are_the_recorded_versions_with_their_licences(client: TestClient) -> None:
    """Swagger UI 5 (4.x cannot render OpenAPI 3.1, which the API description is) and Redoc 2,
    as scripts/vendor-apidocs recorded them, each with its licence."""
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    versions = (STATIC / "VERSIONS").read_text().splitlines()
    swagger = next(line.split() for line in versions if line.startswith("swagger-ui-dist "))
    assert swagger[1].startswith("5.") and swagger[2] == "Apache-2.0"
    assert next(line for line in versions if line.startswith("redoc ")).split()[1].startswith("2.")
    for line in versions:
        if re.fullmatch(r"[0-9a-f]{64}  \S+", line):
            digest, name = line.split()
            assert hashlib.sha256(client.get(f"/app/static/apidocs/{name}").content).hexdigest() == digest, name
    assert "Apache License" in (STATIC / "LICENSE.swagger-ui").read_text()
    assert "MIT" in (STATIC / "LICENSE.redoc").read_text() or "Permission is hereby granted" in (
        STATIC / "LICENSE.redoc").read_text()


def _offline_page(browser: Any, live: Live) -> tuple[Any, list[str], list[str]]:
    """A page that may reach this server only: any other request is recorded and refused.
    Returns the page, the refused requests and the console's errors."""
    context = browser.new_context(base_url=live.base, viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []
    origin = urlsplit(live.base).netloc

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc == origin or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            elsewhere.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, elsewhere, errors


def test_swagger_ui_shows_the_operations_offline(live: Live, browser: Any) -> None:
    page, elsewhere, errors = _offline_page(browser, live)
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 50
    assert page.locator(".opblock-summary-path", has_text="/v1/match").count() >= 1
    # An operation opens and shows its parameters and answers.
    page.locator(".opblock-post .opblock-summary-path", has_text=re.compile(r"^/v1/match$")).first.click()
    page.wait_for_selector(".opblock.is-open .responses-wrapper")
    assert elsewhere == []
    assert [e for e in errors if "Content Security Policy" in e or "Refused" in e] == []
    if os.environ.get("VIGIL_APIDOCS_SHOT"):
        page.screenshot(path=os.environ["VIGIL_APIDOCS_SHOT"])
    page.context.close()


def test_redoc_shows_the_operations_offline(live: Live, browser: Any) -> None:
    page, elsewhere, errors = _offline_page(browser, live)
    page.goto("/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=60_000)
    assert page.locator("[data-section-id^='operation/']").count() > 50
    assert page.locator("h2", has_text="Match").count() >= 1
    assert elsewhere == []
    # Redoc's sidebar shows its maker's logo from the maker's CDN; the page's policy stops that
    # request before it leaves (and Redoc then hides the image). Nothing else is refused.
    refused = [e for e in errors if "Content Security Policy" in e or "Refused" in e]
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in e for e in refused), refused
    page.context.close()
