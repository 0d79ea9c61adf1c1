"""`/docs` and `/redoc` work without the internet: every page a service serves for its API
documentation, and everything those pages load, comes from the service itself; the pages'
Content-Security-Policy keeps the browser from loading anything else (ReDoc's footer logo, for
one). `/openapi.json` refers to nothing outside itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.contract.apps import SERVICES, service_app

BASE = "http://service.test"
URL_ATTRIBUTES = {"src", "href", "spec-url", "data-openapi-url", "action", "poster", "srcset"}
CDN_HOSTS = ("jsdelivr", "unpkg.com", "cdnjs", "googleapis", "gstatic", "fastapi.tiangolo.com")
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)""")
CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'");\s]+)""")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in URL_ATTRIBUTES and v]
        if tag == "script":
            self._in_script = True
            if not any(k == "src" for k, _ in attrs):
                self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"


def _outside(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in ("", "data") or bool(parts.netloc)


@pytest.fixture(params=SERVICES)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    app = service_app(request.param)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


async def _page_links(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, _Links]:
    r = await client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), (path, r.status_code)
    links = _Links()
    links.feed(r.text)
    return r, links


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_a_documentation_page_loads_only_from_the_service(client: httpx.AsyncClient, page: str) -> None:
    r, links = await _page_links(client, page)
    assert links.urls, f"{page} refers to no script at all"
    outside = [u for u in links.urls if _outside(u)]
    assert outside == [], f"{page} refers to outside addresses: {outside}"
    assert links.inline_scripts == 0, f"{page} has inline scripts, which its policy refuses"
    for url in links.urls:
        asset = await client.get(urljoin(BASE + page, url))
        assert asset.status_code == 200, f"{page}: {url} -> {asset.status_code}"
        if url.endswith(".css"):
            refs = CSS_URL.findall(asset.text) + CSS_IMPORT.findall(asset.text)
            assert [u for u in refs if _outside(u)] == [], f"{url} loads from outside"
        if url.endswith(".js"):
            hosts = [h for h in CDN_HOSTS if h in asset.text]
            assert hosts == [], f"{url} names a CDN: {hosts}"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_page_policy_allows_the_service_only(client: httpx.AsyncClient, page: str) -> None:
    r = await client.get(page)
    policy = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'"
    for directive in ("script-src", "img-src", "style-src", "font-src", "connect-src", "worker-src"):
        sources = policy[directive].split()
        assert all(s in ("'self'", "'unsafe-inline'", "data:", "blob:") for s in sources), (directive, sources)
    assert "'unsafe-inline'" not in policy["script-src"]


async def test_swagger_ui_never_asks_the_online_validator(client: httpx.AsyncClient) -> None:
    init = await client.get("/docs/assets/swagger-init.js")
    assert init.status_code == 200 and "validatorUrl: null" in init.text


async def test_the_openapi_document_refers_to_nothing_outside_itself(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str):
                    refs.append(v)
                elif k in ("x-logo", "externalDocs"):
                    refs.append(str(v))
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert all(r.startswith("#/") for r in refs), [r for r in refs if not r.startswith("#/")]
    assert all(not _outside(s["url"]) for s in doc["servers"]), doc["servers"]


async def test_only_the_listed_assets_are_served(client: httpx.AsyncClient) -> None:
    for name in ("README.md", "swagger-ui.LICENSE", "redoc.standalone.js.map"):
        r = await client.get(f"/docs/assets/{name}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", name
    traversal = await client.get("/docs/assets/..%2Fdocs_ui.py")
    assert 400 <= traversal.status_code < 500 and "import" not in traversal.text
    gone = await client.get("/docs/oauth2-redirect")  # FastAPI's page for an OAuth2 flow lcs does not offer
    assert gone.status_code != 200 and gone.json()["error"]["code"] == "not_found"
