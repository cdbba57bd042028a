"""The console's one way to the services: their public HTTP APIs, with the signed-in person's
bearer token. The console keeps no copy of what they answer; scoping, roles and audit stay there.

A service that cannot be reached (or answers 5xx) is `Unavailable`, naming it, so a page says
what is not available instead of failing; a 4xx is `Refused`, carrying the problem+json.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

# What each service is to the person reading the page.
WHAT = {
    "referral": "referrals",
    "risk": "risk assessment (DASH checklists and scores)",
    "scheduling": "MARAC dates, agendas and case lists",
    "actions": "research returns, actions and information-and-updates documents",
    "notify": "the delivery log of notifications",
}


class Unavailable(Exception):
    """A service did not answer usably; carries its name only (never the request)."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service

    @property
    def what(self) -> str:
        return WHAT.get(self.service, self.service)


class SignedOut(Exception):
    """A service refused the token (401): the person must sign in again."""


@dataclass
class Refused(Exception):
    """A 4xx answer: its status and problem+json (title, detail, errors by field)."""

    status: int
    problem: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.status)

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "Refused.")

    def field_errors(self) -> dict[str, str]:
        """Field path -> the first reason given for it."""
        found: dict[str, str] = {}
        for item in self.problem.get("errors") or []:
            if isinstance(item, Mapping) and "field" in item:
                found.setdefault(str(item["field"]), str(item.get("reason", "")))
        return found


_clients: dict[float, httpx.Client] = {}


def _client(timeout_s: float) -> httpx.Client:
    # One pool per process; no redirects followed (an API never redirects a call).
    if timeout_s not in _clients:
        _clients[timeout_s] = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=3.0), follow_redirects=False)
    return _clients[timeout_s]


@dataclass(frozen=True)
class Api:
    """Calls on behalf of one person."""

    urls: Mapping[str, str]
    token: str
    timeout_s: float = 10.0

    def call(self, service: str, method: str, path: str, *, json: Any = None,
             params: Mapping[str, Any] | None = None, idempotent_create: bool = False) -> Any:
        response = self.raw(service, method, path, json=json, params=params,
                            idempotent_create=idempotent_create)
        if not response.content:
            return None
        return response.json()

    def raw(self, service: str, method: str, path: str, *, json: Any = None,
            params: Mapping[str, Any] | None = None,
            idempotent_create: bool = False) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if idempotent_create:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = _client(self.timeout_s).request(
                method, f"{self.urls[service]}{path}", json=json, params=clean, headers=headers)
        except httpx.HTTPError:
            raise Unavailable(service) from None
        if response.status_code == 401:
            raise SignedOut()
        if response.status_code >= 500:
            raise Unavailable(service)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise Refused(response.status_code, problem if isinstance(problem, dict) else {})
        return response

    def get(self, service: str, path: str, **params: Any) -> Any:
        return self.call(service, "GET", path, params=params)

    def post(self, service: str, path: str, body: Any = None, *, create: bool = False) -> Any:
        return self.call(service, "POST", path, json=body, idempotent_create=create)
