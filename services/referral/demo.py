"""`marac demo`: post a fictional referral to a running platform and follow it to its MARAC date.

The referral service's own command (its declaration adds it to `marac`): the form is its sample.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from marac_platform.security.tokens import ensure_dev_keypair, mint_token
from marac_platform.settings import repo_root, service_port
from services.referral.sample import sample_referral

CHECKLIST = "dash-partner-2009-v1"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="post a demo referral and follow it",
        description="Needs `marac run` in another terminal. Posts a fictional referral, waits "
                    "for its MARAC date and prints where it went and its trace id.")
    parser.add_argument("--area", default="northshire")
    parser.add_argument("--yes", type=int, default=16, help="how many DASH answers are yes")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.set_defaults(func=run)


def call(method: str, url: str, token: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def run(args: argparse.Namespace) -> int:
    from marac_platform.cli import CommandError

    data_dir = os.environ.get("MARAC_DATA_DIR") or str(repo_root() / ".data")
    private_key, _ = ensure_dev_keypair(__import__("pathlib").Path(data_dir) / "keys")
    pem = private_key.read_bytes()
    audience = os.environ.get("MARAC_JWT_AUDIENCE", "marac")
    issuer = os.environ.get("MARAC_JWT_ISSUER", "marac-dev")

    def token(role: str, subject: str, agency: str) -> str:
        return mint_token(pem, subject=subject, agency=agency, role=role, areas=[args.area],
                          audience=audience, issuer=issuer, ttl_s=600)

    referrer = token("referrer", "demo-referrer", "police")
    coordinator = token("coordinator", "demo-coordinator", "idva")
    base = {s: f"http://127.0.0.1:{service_port(s)}" for s in ("referral", "risk", "notify")}
    try:
        status, _, checklist = call("GET", f"{base['risk']}/v1/checklists/{CHECKLIST}", referrer)
    except urllib.error.URLError:
        raise CommandError("the platform is not running; start it with `marac run`") from None
    if status != 200:
        raise CommandError(f"could not read the checklist (HTTP {status})")
    ids = [q["id"] for q in checklist["questions"]]
    form = sample_referral(ids, args.area, yes_answers=args.yes)
    status, headers, created = call("POST", f"{base['referral']}/v1/referrals?submit=true",
                                    referrer, form, {"Idempotency-Key": str(uuid.uuid4())})
    if status != 201:
        raise CommandError(f"the referral was refused (HTTP {status}): {created}")
    trace_id = headers.get("X-Trace-Id", "-")
    print(f"referral {created['id']} for case {created['case_id']} submitted "
          f"to {args.area} (trace {trace_id})")
    deadline = time.monotonic() + args.timeout
    seen = ""
    referral: dict[str, Any] = created
    while time.monotonic() < deadline:
        _, _, referral = call("GET", f"{base['referral']}/v1/referrals/{created['id']}",
                              coordinator)
        if referral["state"] != seen:
            seen = referral["state"]
            print(f"  state: {seen}")
        if seen in ("scheduled", "returned", "in_screening"):
            break
        if referral.get("held_for_confirmation"):
            # The same fictional victim as an earlier demo: her referral joined that case and
            # waits for a coordinator. The demo's coordinator confirms it is the same woman.
            print(f"  joined the open case {referral['case_id']} "
                  f"({', '.join(referral.get('linked_case_grounds') or [])}); "
                  "confirmed as the same victim by the demo coordinator")
            status, _, answer = call(
                "POST", f"{base['referral']}/v1/referrals/{created['id']}/link-confirmation",
                coordinator)
            if status != 200:
                raise CommandError(f"could not confirm the join (HTTP {status}): {answer}")
        time.sleep(0.3)
    assessment = referral.get("assessment") or {}
    if assessment:
        met = [c["criterion"] for c in assessment["criteria"] if c["met"]]
        print(f"  DASH: {assessment['yes_count']} yes ({assessment['band']}); "
              f"criteria met: {', '.join(met) or 'none'}")
    if referral.get("marac_date"):
        print(f"  MARAC date: {referral['marac_date']} (meeting {referral['meeting_id']})")
    time.sleep(1.5)
    _, _, deliveries = call("GET", f"{base['notify']}/v1/deliveries?case_id={created['case_id']}",
                            coordinator)
    for item in deliveries or []:
        print(f"  notified: {item['agency_id']} by {item['channel']} ({item['status']})")
    print(f"trace id: {trace_id}")
    return 0 if seen in ("scheduled", "returned", "in_screening") else 1
