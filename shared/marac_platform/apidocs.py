"""The browsable API reference every service serves: Swagger UI over its own /openapi.json.

The Swagger UI files come from the `flask-swagger-ui` wheel (a pinned copy of npm's
swagger-ui-dist, installed with the project by `pip install -e .`), served by the service
itself: no CDN, nothing fetched when a page opens, and the same files offline.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Flask, Response, send_from_directory
from werkzeug.exceptions import NotFound

PAGE_PATH = "/api-docs"
ASSETS_PATH = f"{PAGE_PATH}/assets/"
ASSETS_DIR = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
# Only the files the page loads (and their licence): nothing else of the folder is served.
ASSETS = frozenset({
    "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
    "favicon-16x16.png", "favicon-32x32.png", "LICENSE", "VERSION",
})


def config() -> dict[str, object]:
    """flask-smorest's settings for its Swagger UI page, its scripts read from here."""
    return {
        "OPENAPI_SWAGGER_UI_PATH": PAGE_PATH.lstrip("/"),
        "OPENAPI_SWAGGER_UI_URL": ASSETS_PATH,
        # The page sends the bearer token the reader pastes under "Authorize".
        "OPENAPI_SWAGGER_UI_CONFIG": {"persistAuthorization": False, "tryItOutEnabled": False},
    }


def install(app: Flask) -> None:
    """Serve Swagger UI's files below `ASSETS_PATH` (the page itself is flask-smorest's)."""

    @app.get(f"{ASSETS_PATH}<path:name>")
    def api_docs_asset(name: str) -> Response:
        if name not in ASSETS:
            raise NotFound()
        return send_from_directory(ASSETS_DIR, name, max_age=86400)
