"""The actions service's Flask app factory (gunicorn: services.actions.app:create_app())."""

from __future__ import annotations

from flask import Flask

from marac_platform.http import build_app
from services.actions.wiring import SERVICE


def create_app() -> Flask:
    return build_app(SERVICE)
