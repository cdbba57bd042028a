"""The scheduling service's Flask app factory (gunicorn: services.scheduling.app:create_app())."""

from __future__ import annotations

from flask import Flask

from marac_platform.http import build_app
from services.scheduling.wiring import SERVICE


def create_app() -> Flask:
    return build_app(SERVICE)
