"""The referral service's Flask app factory (gunicorn: services.referral.app:create_app())."""

from __future__ import annotations

from flask import Flask

from marac_platform.http import build_app
from services.referral import admin
from services.referral.api import blp


def create_app() -> Flask:
    return build_app("referral", [blp, admin.blp], title="MARAC referral service")
