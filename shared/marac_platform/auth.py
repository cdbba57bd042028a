"""Authentication and permission checks for every service's API: one mechanism, used by all."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from marac_platform import clock
from marac_platform.areas import Area, Areas
from marac_platform.problems import Problem
from marac_platform.security.roles import Permission, allowed, case_areas, needs_agreement
from marac_platform.security.tokens import (
    AuthenticationError,
    JwksKeySource,
    KeySource,
    KeySourceUnavailable,
    Principal,
    StaticKeySource,
    TokenVerifier,
    ensure_dev_keypair,
)
from marac_platform.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def build_verifier(settings: Settings, areas: Areas) -> TokenVerifier:
    """People's tokens from the configured issuer; partner areas' tokens from their own keys."""
    issuers: dict[str, KeySource] = {}
    if settings.jwks_url:
        issuers[settings.jwt_issuer] = JwksKeySource(settings.jwks_url)
    else:
        public_key = settings.jwt_public_key_file
        if public_key is None:
            _, public_key = ensure_dev_keypair(settings.data_dir / "keys")
        issuers[settings.jwt_issuer] = StaticKeySource.from_file(public_key)
    for area in areas.by_id.values():
        for partner in area.partners:
            if partner.jwks_url:
                issuers[partner.issuer] = JwksKeySource(
                    partner.jwks_url, kind="partner_area", areas=[partner.id]
                )
            elif partner.public_key_file:
                issuers[partner.issuer] = StaticKeySource.from_file(
                    settings.areas_file.parent / partner.public_key_file,
                    kind="partner_area", areas=[partner.id],
                )
    return TokenVerifier(settings.jwt_audience, issuers)


# Paths whose callers may prove who they are by signing the message itself (a partner area's
# deployment sending a transfer): the service registers each with the function that checks
# it (`app.config[SIGNED_PATHS][path]`). It returns False for a body that is no signed message
# at all (the bearer token is then checked as everywhere); else it sets g.principal (a partner
# area) and returns True, or sets an unverified one and raises a 401/403 Problem: audited alike.
SIGNED_PATHS = "MARAC_SIGNED_PATHS"


def authenticator(verifier: TokenVerifier) -> Callable[[], None]:
    def authenticate() -> None:
        signed: dict[str, Callable[[], bool]] = current_app.config.get(SIGNED_PATHS, {})
        check = signed.get(request.path)
        if check is not None and check():
            return
        try:
            g.principal = verifier.authenticate(request.headers.get("Authorization"))
        except AuthenticationError as exc:
            raise Problem(
                401, "Authentication required", f"The bearer token was refused: {exc.reason_code}.",
                slug="unauthenticated", headers={"WWW-Authenticate": 'Bearer realm="marac"'},
            ) from None
        except KeySourceUnavailable:
            raise Problem(503, "Service unavailable", "The identity provider cannot be reached.",
                          headers={"Retry-After": "5"}) from None

    return authenticate


def principal() -> Principal:
    found: Principal | None = g.get("principal")
    if found is None:  # a view outside /v1 asked: a programming error, answered safely
        raise Problem(401, "Authentication required", slug="unauthenticated")
    return found


def requires(permission: Permission) -> Callable[[F], F]:
    """Decorate a view: the caller's role must carry `permission`, else 403; an agency member
    (roles.AGENCY_MEMBERS) also needs its agency's agreement in force in one of its areas."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who = principal()
            if not allowed(who, permission):
                raise Problem(403, "Not allowed",
                              f"Your role may not do this ({permission.value}).", slug="forbidden")
            if needs_agreement(who, permission) and not scope():
                # One answer whether the agency is unknown, has not signed or has lapsed.
                raise Problem(403, "Not allowed",
                              "Your agency has no information-sharing agreement in force with "
                              "the MARAC of your areas.", slug="forbidden")
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def _agreement_in_force() -> Callable[[str, str], bool]:
    areas: Areas = current_app.extensions["marac_runtime"].areas
    today = clock.uk_today()
    return lambda area_id, agency_id: areas.shares_with(area_id, agency_id, today)


def scope() -> frozenset[str]:
    """The areas the caller may see: every query of case data is limited to these. An agency
    member sees only areas whose directory lists its agency with the agreement in force."""
    return case_areas(principal(), _agreement_in_force())


def caller_area(area_id: str, field: str = "area_id") -> Area:
    """The area an API call names (in its path, query or body), if the caller may act in it.

    One answer, 404, for an area this deployment does not serve and for one it serves that is
    not the caller's: a caller cannot learn which areas are configured by trying ids.
    """
    areas: Areas = current_app.extensions["marac_runtime"].areas
    found = areas.get(area_id)
    if found is None or area_id not in scope():
        raise Problem(404, "Not found", "No such area.",
                      errors=[{"field": field, "reason": "Not an area you may use."}])
    return found
