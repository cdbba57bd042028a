"""Each service's browsable API reference: Swagger UI over its /openapi.json, every file it
loads served by the service itself (no CDN), without a token."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator

import pytest
from flask import Flask

from marac_platform import apidocs
from marac_platform.settings import SERVICES, settings_for
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Flask]]:
    """Every service's app (SQLite in a scratch folder: the pages need no database)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DATABASE_URL", *(f"{s.upper()}_DATABASE_URL" for s in SERVICES)):
            patch.delenv(name, raising=False)
        patch.setenv("MARAC_DATA_DIR", str(tmp_path_factory.mktemp("apidocs")))
        patch.setenv("MARAC_AREAS_FILE", str(REPO / "deploy" / "areas.yaml"))
        settings_for.cache_clear()
        built = {s: importlib.import_module(f"services.{s}.app").create_app() for s in SERVICES}
        yield built
        for app in built.values():
            app.extensions["marac_runtime"].db.dispose()
    settings_for.cache_clear()


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_serves_swagger_ui_and_its_assets_locally(
    apps: dict[str, Flask], service: str
) -> None:
    client = apps[service].test_client()
    page = client.get(apidocs.PAGE_PATH)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/openapi.json" in html
    loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert loaded, "the page loads its scripts and styles"
    # Nothing from another host: every file is a path on this service.
    assert all(url.startswith(apidocs.ASSETS_PATH) for url in loaded), loaded
    for url in loaded:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.get_data()) > 1000, url
    script = client.get(f"{apidocs.ASSETS_PATH}swagger-ui-bundle.js")
    assert script.mimetype in ("text/javascript", "application/javascript")
    assert b"SwaggerUIBundle" in script.get_data()
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("name", ["index.html", "../dist/VERSION", "oauth2-redirect.js", "nope.js"])
def test_only_the_pages_own_files_are_served(apps: dict[str, Flask], name: str) -> None:
    client = apps["referral"].test_client()
    answer = client.get(f"{apidocs.ASSETS_PATH}{name}")
    assert answer.status_code == 404
    assert answer.mimetype == "application/problem+json"
