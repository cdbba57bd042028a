"""The MARAC areas a deployment serves: one YAML file, validated at start-up with a clear error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from marac_platform import clock


class AreaConfigError(Exception):
    """The areas file is wrong: the message names the file, the key and the reason."""


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    isa_signed: bool
    email: str | None = None
    webhook_url: str | None = None
    # The last day the signed information-sharing agreement covers; None: no end date.
    isa_expires: dt.date | None = None
    isa_signed_on: dt.date | None = None  # for the record: shown in the directory
    contacts: tuple[str, ...] = ()  # more e-mail addresses, told with `email`
    # The webhook's signing secret (Standard Webhooks, `whsec_...`), by reference only: the
    # areas file is a ConfigMap, never a secret. One of the two when `webhook_url` is set.
    webhook_secret_env: str | None = None
    webhook_secret_file: str | None = None
    opt_out: tuple[str, ...] = ()  # notification kinds the agency chose not to receive

    def emails(self) -> tuple[str, ...]:
        return ((self.email,) if self.email else ()) + self.contacts

    def isa_in_force(self, today: dt.date) -> bool:
        """Whether the agency may be told about cases: signed, and not lapsed by `today`."""
        return self.isa_signed and (self.isa_expires is None or today <= self.isa_expires)


@dataclass(frozen=True)
class PartnerArea:
    id: str
    name: str
    issuer: str
    public_key_file: str | None = None
    jwks_url: str | None = None
    # Transfers to and from the partner's own deployment: its base URL, its public keys (the
    # JWKS at `jwks_url`, or `jwk` here: one key or a set; a `sig` key checks what it signs,
    # an `enc` key is what we encrypt to), and our private keys for it (`keys_file`, a JWK
    # Set in a mounted secret: our `sig` key signs, our `enc` key decrypts).
    base_url: str | None = None
    jwk: Mapping[str, Any] | None = None
    keys_file: str | None = None


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    agencies: tuple[Agency, ...]
    partners: tuple[PartnerArea, ...] = ()
    retention_days: int = 2190
    confidentiality_statement: str = ""
    # Each service validates its own section (risk, scheduling, screening) with its own schema.
    sections: Mapping[str, Any] = field(default_factory=dict)

    def agency(self, agency_id: str) -> Agency | None:
        return next((a for a in self.agencies if a.id == agency_id), None)

    def isa_agencies(self, today: dt.date | None = None) -> tuple[Agency, ...]:
        """Agencies whose information-sharing agreement is in force: the only ones told anything."""
        on = today or clock.uk_today()
        return tuple(a for a in self.agencies if a.isa_in_force(on))

    def shares_with(self, agency_id: str, today: dt.date) -> bool:
        """Whether the agency is in this area's directory with its agreement in force."""
        agency = self.agency(agency_id)
        return agency is not None and agency.isa_in_force(today)


def _date_only(value: dt.date) -> None:
    # YAML reads 2027-03-31T00:00 as a datetime; an agreement ends on a day, not at a time.
    if isinstance(value, dt.datetime):
        raise ValidationError("Must be a date (YYYY-MM-DD), not a date and time.")


class AgencySchema(Schema):
    id = fields.Str(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,62}$"))
    name = fields.Str(required=True, validate=validate.Length(1, 200))
    isa_signed = fields.Bool(required=True)
    email = fields.Email(load_default=None)
    webhook_url = fields.Url(load_default=None, require_tld=False)
    isa_expires = fields.Date(load_default=None, validate=_date_only)
    isa_signed_on = fields.Date(load_default=None, validate=_date_only)
    contacts = fields.List(fields.Email(), load_default=list, validate=validate.Length(0, 20))
    webhook_secret_env = fields.Str(load_default=None,
                                    validate=validate.Regexp(r"^[A-Z_][A-Z0-9_]{0,127}$"))
    webhook_secret_file = fields.Str(load_default=None, validate=validate.Length(1, 1000))
    opt_out = fields.List(fields.Str(validate=validate.Length(1, 64)), load_default=list)

    @validates_schema
    def _expiry_needs_a_signature(self, data: dict[str, Any], **_: Any) -> None:
        for key in ("isa_expires", "isa_signed_on"):
            if data.get(key) is not None and not data.get("isa_signed"):
                raise ValidationError("Only a signed agreement has dates.", key)

    @validates_schema
    def _webhooks_are_signed(self, data: dict[str, Any], **_: Any) -> None:
        secrets = [k for k in ("webhook_secret_env", "webhook_secret_file") if data.get(k)]
        if data.get("webhook_url") and len(secrets) != 1:
            raise ValidationError("A webhook needs its signing secret: webhook_secret_env or "
                                  "webhook_secret_file (one of them).", "webhook_url")

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Agency:
        data["contacts"] = tuple(data["contacts"])
        data["opt_out"] = tuple(data["opt_out"])
        return Agency(**data)


class PartnerSchema(Schema):
    id = fields.Str(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,62}$"))
    name = fields.Str(required=True)
    issuer = fields.Str(required=True)
    public_key_file = fields.Str(load_default=None)
    jwks_url = fields.Url(load_default=None, require_tld=False)
    base_url = fields.Url(load_default=None, require_tld=False)
    jwk = fields.Dict(load_default=None)
    keys_file = fields.Str(load_default=None)

    @validates_schema
    def _reachable_partner_has_keys(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("base_url") and not (data.get("jwk") or data.get("jwks_url")):
            raise ValidationError("A partner with a base_url needs its keys: jwk or jwks_url.",
                                  "base_url")
        if data.get("base_url") and not data.get("keys_file"):
            raise ValidationError("A partner with a base_url needs our keys_file.", "keys_file")

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> PartnerArea:
        return PartnerArea(**data)


SECTION_KEYS = ("risk", "scheduling", "screening", "notify", "actions", "reporting")


class AreaSchema(Schema):
    # An unknown key (a typo such as `retention_day`) is refused, naming it: a key silently
    # dropped would leave a setting at its default with nothing saying so.

    id = fields.Str(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,62}$"))
    name = fields.Str(required=True, validate=validate.Length(1, 200))
    agencies = fields.List(fields.Nested(AgencySchema), required=True, validate=validate.Length(1))
    partners = fields.List(fields.Nested(PartnerSchema), load_default=list)
    retention_days = fields.Int(load_default=2190, validate=validate.Range(30, 36500))
    confidentiality_statement = fields.Str(required=True, validate=validate.Length(1, 5000))
    risk = fields.Dict(load_default=dict)
    scheduling = fields.Dict(load_default=dict)
    screening = fields.Dict(load_default=dict)
    notify = fields.Dict(load_default=dict)
    actions = fields.Dict(load_default=dict)
    reporting = fields.Dict(load_default=dict)  # the SafeLives quarterly return (referral)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Area:
        sections = {key: data.pop(key) for key in SECTION_KEYS}
        data["agencies"] = tuple(data["agencies"])
        data["partners"] = tuple(data["partners"])
        return Area(sections=sections, **data)


class AreasFileSchema(Schema):
    areas = fields.List(fields.Nested(AreaSchema), required=True, validate=validate.Length(1))


def _first_error(messages: Any, path: str = "") -> tuple[str, str]:
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        return _first_error(value, f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], path)
    return path, str(messages)


@dataclass(frozen=True)
class Areas:
    by_id: Mapping[str, Area]
    source: Path

    def get(self, area_id: str) -> Area | None:
        return self.by_id.get(area_id)

    def ids(self) -> frozenset[str]:
        return frozenset(self.by_id)

    def shares_with(self, area_id: str, agency_id: str, today: dt.date) -> bool:
        """Whether the area is served here and its directory has the agency's agreement in force."""
        area = self.get(area_id)
        return area is not None and area.shares_with(agency_id, today)


def parse_areas(document: Any, source: Path) -> Areas:
    try:
        loaded = AreasFileSchema().load(document if isinstance(document, dict) else {})
    except ValidationError as exc:
        key, reason = _first_error(exc.messages)
        raise AreaConfigError(f"{source}: {key}: {reason}") from None
    areas: list[Area] = loaded["areas"]
    seen: dict[str, Area] = {}
    for area in areas:
        if area.id in seen:
            raise AreaConfigError(f"{source}: areas: area id {area.id!r} appears twice")
        seen[area.id] = area
    return Areas(by_id=seen, source=source)


def load_areas(path: Path) -> Areas:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AreaConfigError(f"{path}: cannot read the areas file ({exc.strerror})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AreaConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    return parse_areas(document, path)


def section(area: Area, key: str, schema: Schema, source: Path) -> Any:
    """Load one service's section of an area with that service's schema, or fail naming it."""
    try:
        return schema.load(area.sections.get(key) or {})
    except ValidationError as exc:
        name, reason = _first_error(exc.messages)
        raise AreaConfigError(f"{source}: areas[{area.id}].{key}.{name}: {reason}") from None
