"""One referral through all five services as real processes, over real Kafka and PostgreSQL:
it reaches notify and an e-mail is sent, inside one trace, with no personal data leaking.

The processes run on a clock started at a chosen instant (MARAC_CLOCK_START, test mode), so
the MARAC date they give is known whatever day the suite runs."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from marac_platform import events
from marac_platform import kafka as platform_kafka
from marac_platform.checklists import get_checklist
from marac_platform.launcher import Platform
from marac_platform.ports import free_port
from marac_platform.security.tokens import mint_token
from marac_platform.settings import SERVICES
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from services.registry import PROGRAM
from tests.conftest import PlatformEnv
from tests.support.kafka_tools import read_all, wait_for
from tests.support.otlp import OtlpReceiver, Span
from tests.support.smtp import SmtpServer, part

pytestmark = pytest.mark.e2e

# Planted personal data: none of it may appear in a log, span, metric or Kafka record.
CANARY_GIVEN = "Quillonia"
CANARY_FAMILY = "Zarkwrightson"
CANARY_STREET = "77 Canaryhollow Lane"
CANARIES = (CANARY_GIVEN, CANARY_FAMILY, "Canaryhollow")

# Spans that rightly start a trace of their own: timed jobs, not caused by any request.
JOB_ROOTS = ("scheduling publish case list", "scheduling close date", "scheduling allocate waiting")


@dataclass(frozen=True)
class Day:
    """An instant the platform is started at, and the MARAC date northshire must give then
    (weekly on Tuesdays 10:00, cut-off 5 working days before at 17:00, England's holidays)."""

    start: str
    marac_date: str


DAYS = {
    # A Wednesday: the cut-off for Tue 8 Dec was Tue 1 Dec 17:00, so the next is 15 Dec.
    "wednesday": Day("2026-12-02T11:00:00+00:00", "2026-12-15"),
    # Friday before Christmas, an hour before the cut-off for Tue 29 Dec (Christmas Day and
    # the Boxing Day substitute on Mon 28 Dec are not working days); the 22 Dec case list
    # falls due while the platform runs, in a trace of its own.
    "before-christmas": Day("2026-12-18T16:00:00+00:00", "2026-12-29"),
}


def call(method: str, url: str, token: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


@pytest.fixture(params=sorted(DAYS), ids=sorted(DAYS))
def day(request: pytest.FixtureRequest) -> Day:
    return DAYS[request.param]


@pytest.fixture
def clock_start(day: Day) -> datetime:
    """platform_env starts every process's clock here (MARAC_CLOCK_START)."""
    return datetime.fromisoformat(day.start)


@pytest.fixture
def running(platform_env: PlatformEnv, tmp_path: Path,
            day: Day) -> Iterator[tuple[Platform, OtlpReceiver, SmtpServer]]:
    receiver = OtlpReceiver().start()
    with SmtpServer() as smtp:
        env = dict(platform_env.env)
        env.update({
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            **smtp.env(),
        })
        for service in SERVICES:
            env[f"MARAC_{service.upper()}_PORT"] = str(free_port())
        platform = Platform(env=env, log_dir=tmp_path / "logs", program=PROGRAM)
        try:
            platform.start(timeout_s=120)
            yield platform, receiver, smtp
        finally:
            platform.stop()
            receiver.stop()


def token(env: dict[str, str], role: str, agency: str) -> str:
    private = (Path(env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    # The web processes check tokens against the wall clock, not the shifted one.
    return mint_token(private, subject=f"e2e-{role}", agency=agency, role=role,
                      areas=["northshire"], audience="marac", issuer="marac-dev",
                      issued_at=int(time_machine.escape_hatch.time.time()))


def span_text(span: Span) -> str:
    return json.dumps([span.name, span.attributes, span.events], default=str)


def test_referral_reaches_notify_in_one_trace_without_personal_data(
    running: tuple[Platform, OtlpReceiver, SmtpServer], platform_env: PlatformEnv, day: Day
) -> None:
    platform, receiver, smtp = running
    env = platform.env
    referrer = token(dict(env), "referrer", "police")
    coordinator = token(dict(env), "coordinator", "idva")
    ids = list(get_checklist(PARTNER_CHECKLIST).question_ids)
    form = sample_referral(ids, "northshire", yes_answers=16, victim_given=CANARY_GIVEN,
                           victim_family=CANARY_FAMILY, address_line=CANARY_STREET,
                           today=date.fromisoformat(day.start[:10]))

    status, headers, created = call("POST", f"{platform.url('referral')}/v1/referrals?submit=true",
                                    referrer, form, {"Idempotency-Key": str(uuid.uuid4())})
    assert status == 201, created
    trace_id = headers["X-Trace-Id"]
    case_id = created["case_id"]

    def delivered() -> list[dict[str, Any]]:
        _, _, items = call("GET", f"{platform.url('notify')}/v1/deliveries?case_id={case_id}",
                           coordinator)
        return [d for d in items or [] if d["status"] == "sent"]

    sent = wait_for(delivered, timeout_s=90, interval_s=0.5)
    assert [(d["agency_id"], d["channel"]) for d in sent] == [("police", "email")]

    _, _, referral = call("GET", f"{platform.url('referral')}/v1/referrals/{created['id']}",
                          coordinator)
    assert referral["state"] == "scheduled"
    assert referral["marac_date"] == day.marac_date
    assert referral["form"]["victim"]["name"]["given"] == CANARY_GIVEN  # readable when allowed

    # The e-mail went to the referrer's agency, says when, and names nobody. (On a day a
    # case list falls due, that list's e-mails go to every ISA agency too, in their own trace.)
    about_case = [m for m in smtp.inbox.messages if case_id in str(m["Subject"])]
    assert len(about_case) == 1
    mail = about_case[0]
    assert mail["To"] == "marac@police.northshire.example"
    assert case_id in part(mail, "plain")
    assert referral["marac_date"] in part(mail, "plain")
    assert smtp.inbox.sessions[smtp.inbox.messages.index(mail)] == (True, True)  # STARTTLS, AUTH

    # One trace, from the referrer's POST to the e-mail, with spans from all five services.
    def whole_trace() -> list[Span]:
        spans = [s for s in receiver.snapshot() if s.trace_id == trace_id]
        services = {s.service for s in spans}
        has_mail = any(s.name == "notify email" for s in spans)
        return spans if has_mail and services >= {f"marac-{n}" for n in SERVICES} else []

    trace = wait_for(whole_trace, timeout_s=30, interval_s=0.5)
    assert {s.service for s in trace} == {f"marac-{n}" for n in SERVICES}
    spans = receiver.snapshot()
    messaging = [s for s in spans
                 if str(s.attributes.get("messaging.destination.name", "")).startswith(
                     platform_env.prefix)]
    assert messaging, "no produce/consume spans were exported"
    # Every produce and consume span about this case is in the referral's trace ...
    about_case = [s for s in messaging if s.attributes.get("messaging.kafka.message.key") == case_id]
    assert {s.trace_id for s in about_case} == {trace_id}
    # ... and any other trace is a timed job's: it starts at the job's span, so no consumer
    # lost its producer's context (a consume span with no parent would start a trace).
    for span in messaging:
        assert span.parent_span_id, f"{span.name} starts a trace of its own"
    roots = {s.trace_id: s.name for s in spans if not s.parent_span_id}
    for other in {s.trace_id for s in messaging} - {trace_id}:
        assert roots.get(other, "").startswith(JOB_ROOTS), roots.get(other)
    names = {s.name for s in trace}
    assert f"{platform_env.prefix}referral.submitted publish" in names
    assert f"{platform_env.prefix}case.scheduled process" in names

    # The canary: no personal data in logs, spans, or the raw bytes of any Kafka topic.
    platform.stop()  # every process has written and flushed its last line
    for log_file in sorted(platform.log_dir.glob("*.log")):
        text = log_file.read_text(errors="replace")
        for canary in CANARIES:
            assert canary not in text, f"{canary!r} in {log_file.name}"
    for span in receiver.snapshot():
        text = span_text(span)
        for canary in CANARIES:
            assert canary not in text, f"{canary!r} in span {span.name}"
    for raw in receiver.raw:
        for canary in CANARIES:
            assert canary.encode() not in raw
    # Every e-mail, headers and both parts as sent: no name, address or date of birth.
    assert smtp.inbox.raw
    for raw in smtp.inbox.raw:
        for canary in (*CANARIES, "1990-04-01", "01/04/1990"):
            assert canary.encode() not in raw, f"{canary!r} in an e-mail"
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    topics = platform_kafka.platform_topics()
    assert all(t.startswith(platform_env.prefix) for t in topics)
    seen_records = 0
    for topic in topics:
        for record in read_all(bootstrap, topic, idle_s=0.5):
            seen_records += 1
            blob = (record.value or b"") + (record.key or b"") + b"".join(
                v or b"" for _, v in record.headers or [])
            for canary in CANARIES:
                assert canary.encode() not in blob, f"{canary!r} in {topic}"
    assert seen_records >= 6
    assert events.kafka_topic("referral.submitted") in topics
