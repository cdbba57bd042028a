"""The notify service's configuration, built when a process starts (its declaration's
`configure`): each area's `notify` section (coordinators, a template folder), every agency's
webhook secret read from where the areas file points, and every template rendered once."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment
from marshmallow import Schema, fields, post_load, validate

from marac_platform.areas import Agency, AreaConfigError, Areas, section
from marac_platform.settings import Settings
from services.notify import templates


@dataclass(frozen=True)
class AreaNotify:
    coordinators: tuple[str, ...]  # e-mail addresses of the area's MARAC coordinators
    templates: Environment
    webhook_secrets: Mapping[str, str]  # agency id -> `whsec_...`


@dataclass(frozen=True)
class NotifyConfig:
    areas: Mapping[str, AreaNotify]
    public_url: str

    def area(self, area_id: str) -> AreaNotify:
        return self.areas[area_id]


class NotifySectionSchema(Schema):
    """An area's `notify:` section. Every key is optional."""

    coordinators = fields.List(fields.Email(), load_default=list, validate=validate.Length(0, 20))
    # A folder of templates overriding any of services/notify/templates (relative to the file).
    templates = fields.Str(load_default=None, validate=validate.Length(1, 1000))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["coordinators"] = tuple(data["coordinators"])
        return data


def check_webhook_url(url: str, where: str) -> None:
    """Webhooks go over HTTPS; plain HTTP only to this machine (a local receiver, tests)."""
    parsed = urlsplit(url)
    if parsed.scheme == "https" or (parsed.scheme == "http"
                                    and parsed.hostname in ("127.0.0.1", "localhost", "::1")):
        return
    raise AreaConfigError(f"{where}.webhook_url: must be an https:// URL")


def webhook_secret(agency: Agency, where: str) -> str:
    """The agency's Standard Webhooks secret (`whsec_` and base64), from the environment or a
    file, checked now so a wrong one stops the process instead of every webhook failing."""
    if agency.webhook_secret_env:
        value = os.environ.get(agency.webhook_secret_env, "").strip()
        origin = f"environment variable {agency.webhook_secret_env}"
    else:
        assert agency.webhook_secret_file
        try:
            value = Path(agency.webhook_secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AreaConfigError(f"{where}.webhook_secret_file: cannot read it "
                                  f"({exc.strerror})") from None
        origin = f"file {agency.webhook_secret_file}"
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 24:
        raise AreaConfigError(f"{where}: the webhook secret in {origin} must be 'whsec_' and at "
                              "least 24 random bytes in base64")
    return value


def configure(areas: Areas, settings: Settings) -> NotifyConfig:
    built: dict[str, AreaNotify] = {}
    for area in areas.by_id.values():
        where = f"{areas.source}: areas[{area.id}]"
        loaded = section(area, "notify", NotifySectionSchema(), areas.source)
        override = None
        if loaded["templates"]:
            override = (areas.source.parent / loaded["templates"]).resolve()
            if not override.is_dir():
                raise AreaConfigError(f"{where}.notify.templates: no such folder {override}")
        env = templates.environment(override)
        try:
            templates.check(env, f"{where}.notify.templates")
        except templates.TemplateProblem as exc:
            raise AreaConfigError(str(exc)) from None
        secrets: dict[str, str] = {}
        for agency in area.agencies:
            if agency.webhook_url:
                named = f"{where}.agencies[{agency.id}]"
                check_webhook_url(agency.webhook_url, named)
                secrets[agency.id] = webhook_secret(agency, named)
        built[area.id] = AreaNotify(coordinators=loaded["coordinators"], templates=env,
                                    webhook_secrets=secrets)
    return NotifyConfig(areas=built, public_url=settings.public_url)
