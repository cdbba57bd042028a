"""The audit trail: what one API call records, and the chain it appends to (SQLite in memory)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g, jsonify
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from marac_platform import audit
from marac_platform.db import Database, PlatformTables, new_metadata
from marac_platform.security.roles import Role
from marac_platform.security.tokens import Principal

KEY = b"k" * 32


@pytest.fixture
def trail() -> Iterator[audit.AuditTrail]:
    metadata = new_metadata()
    tables = PlatformTables(metadata)
    db = Database("sqlite://")
    metadata.create_all(db.engine)
    yield audit.AuditTrail(db, tables.audit, KEY)
    db.dispose()


def entry(i: int = 0, case_id: str | None = "case-1") -> audit.Entry:
    return audit.Entry(subject=f"user-{i}", agency="police", role="coordinator",
                       resource=f"/v1/referrals/ref-{i}", action="read", outcome="2xx:200",
                       case_id=case_id, area_id="northshire", source_ip="10.0.0.1", trace_id=f"{i:032x}")


def test_appends_chain_and_verify(trail: audit.AuditTrail) -> None:
    assert trail.append([entry(0)]) == [1]
    assert trail.append([entry(1), entry(2, None)]) == [2, 3]
    records = list(trail.records())
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[1].prev_hash == records[0].hash
    assert trail.verify().ok and trail.verify().checked == 3


def test_an_altered_or_removed_record_is_found(trail: audit.AuditTrail) -> None:
    trail.append([entry(i) for i in range(5)])
    with trail.db.engine.begin() as connection:
        connection.execute(update(trail.table).where(trail.table.c.seq == 3).values(subject="someone"))
    check = trail.verify()
    assert (check.ok, check.first_bad_seq) == (False, 3)
    with trail.db.engine.begin() as connection:
        connection.execute(update(trail.table).where(trail.table.c.seq == 3).values(subject="user-2"))
        connection.execute(delete(trail.table).where(trail.table.c.seq == 4))
    assert trail.verify().first_bad_seq == 4


def test_a_chain_recomputed_without_the_key_does_not_verify(trail: audit.AuditTrail) -> None:
    trail.append([entry(0), entry(1)])
    assert not audit.AuditTrail(trail.db, trail.table, b"x" * 32).verify().ok
    assert not audit.AuditTrail(trail.db, trail.table, None).verify().ok


# --- the anchored head: a trail cut short ------------------------------------------------------


@pytest.fixture
def anchored(trail: audit.AuditTrail) -> Iterator[audit.AuditTrail]:
    """The trail with its head anchored in a database of its own (the key store's, in a service)."""
    from marac_platform import keystore

    store = Database("sqlite://")
    keystore.metadata.create_all(store.engine)
    trail.anchors = audit.AuditAnchors(store, "referral", KEY)
    trail.start_anchor()
    yield trail
    store.dispose()


def cut(trail: audit.AuditTrail, after_seq: int) -> None:
    with trail.db.engine.begin() as connection:
        connection.execute(delete(trail.table).where(trail.table.c.seq > after_seq))


def test_records_cut_off_the_end_do_not_verify(anchored: audit.AuditTrail) -> None:
    anchored.append([entry(i) for i in range(5)])
    assert anchored.verify().ok
    cut(anchored, 3)
    check = anchored.verify()
    assert (check.ok, check.first_bad_seq, check.checked) == (False, 4, 3)
    cut(anchored, 0)
    check = anchored.verify()
    assert (check.ok, check.first_bad_seq, check.checked) == (False, 1, 0)


def test_seq_numbers_are_not_given_out_again_after_a_cut(anchored: audit.AuditTrail) -> None:
    anchored.append([entry(i) for i in range(5)])
    cut(anchored, 2)
    assert anchored.append([entry(9)]) == [6]
    assert (anchored.verify().ok, anchored.verify().first_bad_seq) == (False, 3)
    cut(anchored, 0)
    assert anchored.append([entry(10)]) == [7]
    assert anchored.verify().first_bad_seq == 1


def test_a_lagging_anchor_still_verifies_and_a_replaced_chain_does_not(
    anchored: audit.AuditTrail,
) -> None:
    anchors = anchored.anchors
    anchored.append([entry(0), entry(1)])
    anchored.anchors = None  # an append whose anchoring failed: the anchor lags at seq 2
    anchored.append([entry(2)])
    anchored.anchors = anchors
    assert anchored.verify().ok and anchored.verify().checked == 3
    # Another chain, valid on its own (say an old backup put back), does not pass for this one.
    cut(anchored, 0)
    anchored.anchors = None
    anchored.append([entry(7), entry(8), entry(9)])
    anchored.anchors = anchors
    check = anchored.verify()
    assert (check.ok, check.first_bad_seq) == (False, 2)


def test_a_forged_or_missing_anchor_does_not_verify(anchored: audit.AuditTrail) -> None:
    from marac_platform.keystore import audit_heads

    anchored.append([entry(i) for i in range(4)])
    assert anchored.anchors is not None
    store = anchored.anchors.db
    kept = list(anchored.records())[1]
    cut(anchored, 2)
    with store.engine.begin() as connection:  # moved back by someone without the audit key
        connection.execute(update(audit_heads).values(seq=kept.seq, hash=kept.hash))
    check = anchored.verify()
    assert (check.ok, check.first_bad_seq) == (False, 3)
    with store.engine.begin() as connection:
        connection.execute(delete(audit_heads))
    check = anchored.verify()
    assert (check.ok, check.first_bad_seq) == (False, 3)
    # Only migration makes an anchor: an append does not quietly make a new one from the cut chain.
    anchored.append([entry(5)])
    assert not anchored.verify().ok


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from([None, "case-a", "case-b"]), min_size=1, max_size=4),
                min_size=1, max_size=5))
def test_any_sequence_of_appends_verifies(trail: audit.AuditTrail, batches: list[list[str | None]]) -> None:
    with trail.db.engine.begin() as connection:
        connection.execute(delete(trail.table))
    for batch in batches:
        trail.append([entry(i, case) for i, case in enumerate(batch)])
    check = trail.verify()
    assert check.ok and check.checked == sum(len(b) for b in batches)


@pytest.mark.parametrize(("status", "outcome"), [(200, "2xx:200"), (201, "2xx:201"), (403, "4xx:403"),
                                                 (503, "5xx:503")])
def test_outcome_is_the_status_class_and_code(status: int, outcome: str) -> None:
    assert audit.outcome_of(status) == outcome


# --- what a request records -------------------------------------------------------------------

WHO = Principal(subject="coord-1", agency="idva", role=Role.COORDINATOR,
                areas=frozenset({"northshire"}), issuer="marac-dev")


def app_with(view: Any, rule: str, methods: tuple[str, ...] = ("GET",)) -> Flask:
    app = Flask("t")
    app.add_url_rule(rule, "view", view, methods=list(methods))
    return app


def record(app: Flask, path: str, method: str = "GET", who: Principal = WHO) -> list[audit.Entry]:
    with app.test_request_context(path, method=method, environ_base={"REMOTE_ADDR": "10.9.8.7"}):
        g.principal = who
        response = app.full_dispatch_request()
        return audit.entries_for(who, response)


def test_a_read_of_one_referral_records_its_case_and_path() -> None:
    app = app_with(lambda referral_id: jsonify(id=referral_id, case_id="case-9", area_id="northshire",
                                               form={"victim": {"name": "Alex"}}),
                   "/v1/referrals/<referral_id>")
    [one] = record(app, "/v1/referrals/ref-1?q=Alex")
    assert (one.subject, one.agency, one.role, one.action, one.outcome) == (
        "coord-1", "idva", "coordinator", "read", "2xx:200")
    assert (one.case_id, one.area_id, one.resource, one.source_ip) == (
        "case-9", "northshire", "/v1/referrals/ref-1", "10.9.8.7")
    assert "Alex" not in repr(one)


def test_a_list_records_each_case_it_showed() -> None:
    app = app_with(lambda: jsonify(items=[{"case_id": "case-1", "area_id": "northshire"},
                                          {"case_id": "case-2", "area_id": "southshire"},
                                          {"case_id": "case-1", "area_id": "northshire"}]),
                   "/v1/referrals")
    entries = record(app, "/v1/referrals")
    assert [(e.case_id, e.area_id) for e in entries] == [("case-1", "northshire"), ("case-2", "southshire")]


def test_a_create_records_the_created_resource() -> None:
    def create() -> Any:
        response = jsonify(id="ref-7", case_id="case-7", area_id="southshire")
        response.status_code = 201
        response.headers["Location"] = "/v1/referrals/ref-7"
        return response

    [one] = record(app_with(create, "/v1/referrals", ("POST",)), "/v1/referrals", "POST")
    assert (one.action, one.resource, one.case_id, one.area_id, one.outcome) == (
        "create", "/v1/referrals/ref-7", "case-7", "southshire", "2xx:201")


def test_a_path_argument_that_is_not_an_id_is_not_copied() -> None:
    app = app_with(lambda referral_id: ("", 404), "/v1/referrals/<referral_id>")
    [one] = record(app, "/v1/referrals/Alex Example lives at 1 Street")
    assert one.resource == "/v1/referrals/<referral_id>" and one.case_id is None
    assert one.area_id == "northshire"  # the caller's one area
    assert one.outcome == "4xx:404"


def test_a_case_in_the_path_or_noted_by_the_view_is_recorded() -> None:
    def erase(case_id: str) -> Any:
        audit.note(case_id, "southshire")
        return "", 204

    [one] = record(app_with(erase, "/v1/cases/<case_id>", ("DELETE",)), "/v1/cases/case-3", "DELETE")
    assert (one.action, one.case_id, one.area_id, one.outcome) == (
        "delete", "case-3", "southshire", "2xx:204")


def test_a_case_list_records_every_case_of_every_document() -> None:
    documents = [{"meeting_id": "m-1", "area_id": "northshire", "edition": 0,
                  "cases": [{"case_id": "case-1", "details": {"incidents": "x"}},
                            {"case_id": "case-2", "details": None}]},
                 {"meeting_id": "m-1", "area_id": "northshire", "edition": 1,
                  "cases": [{"case_id": "case-3", "details": None}]}]
    entries = record(app_with(lambda meeting_id: jsonify(documents), "/v1/meetings/<meeting_id>/case-lists"),
                     "/v1/meetings/m-1/case-lists")
    assert [(e.case_id, e.area_id) for e in entries] == [
        ("case-1", "northshire"), ("case-2", "northshire"), ("case-3", "northshire")]


def test_a_view_declares_the_cases_it_disclosed() -> None:
    from types import SimpleNamespace

    def listing() -> Any:
        # Rows (an ORM object's attributes) or mappings; the response itself names no case.
        audit.note_all([SimpleNamespace(case_id="case-5", area_id="southshire"),
                        {"case_id": "case-6"}, {"case_id": "not an id"}], "northshire")
        return jsonify(count=2)

    entries = record(app_with(listing, "/v1/things"), "/v1/things")
    assert [(e.case_id, e.area_id, e.outcome) for e in entries] == [
        ("case-5", "southshire", "2xx:200"), ("case-6", "northshire", "2xx:200")]


def test_a_long_list_records_every_case() -> None:
    items = [{"case_id": f"case-{i}", "area_id": "northshire"} for i in range(1200)]
    entries = record(app_with(lambda: jsonify(items=items), "/v1/referrals"), "/v1/referrals")
    assert len(entries) == 1200


def test_a_multi_area_caller_without_a_case_has_no_area() -> None:
    both = Principal(subject="a", agency="b", role=Role.AUDITOR,
                     areas=frozenset({"northshire", "southshire"}), issuer="marac-dev")
    [one] = record(app_with(lambda: jsonify([]), "/v1/things"), "/v1/things", who=both)
    assert (one.case_id, one.area_id) == (None, None)


@given(st.text(max_size=80))
def test_only_id_shaped_values_count_as_ids(value: str) -> None:
    if audit.is_id(value):
        assert " " not in value and "/" not in value and "?" not in value and len(value) <= 64


def test_a_long_subject_fits_its_column_and_stays_distinct() -> None:
    first, second = "s" * 250 + "1", "s" * 250 + "2"
    assert len(audit.fit(first)) == audit.NAME_CHARS
    assert audit.fit(first) != audit.fit(second)
    assert audit.fit("short") == "short"
