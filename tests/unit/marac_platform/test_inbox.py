"""A consumer's chunk of records reads the inbox once and writes its new rows in one statement:
each event handled once, also when the chunk holds it twice or handled it before."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import MetaData, event, select

from marac_platform.consumer import _Inbox
from marac_platform.db import Database, PlatformTables
from marac_platform.events import REFERRAL_STATUS_CHANGED, Event, decode, new_message


def status_event(n: int) -> Event:
    message = new_message(REFERRAL_STATUS_CHANGED, source="/marac/referral",
                          subject=f"case-{n}", area="northshire", data={
                              "referral_id": f"ref-{n}", "case_id": f"case-{n}",
                              "area_id": "northshire", "from_state": "submitted",
                              "to_state": "assessed"})
    headers = {name: value.encode() for name, value in message.headers.items()}
    return decode(headers, message.key.encode(), message.value)


def test_a_chunk_reads_the_inbox_once_and_writes_it_once(tmp_path: Path) -> None:
    tables = PlatformTables(MetaData())
    db = Database(f"sqlite:///{tmp_path / 'inbox.db'}")
    tables.inbox.metadata.create_all(db.engine)
    statements: list[tuple[str, int]] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def count(_c: object, _cur: object, statement: str, params: Any, _ctx: object,
              many: bool) -> None:
        if "inbox" in statement:
            statements.append((statement.split()[0], len(params) if many else 1))

    old, *new = [status_event(n) for n in range(4)]
    with db.unit_of_work() as session:
        session.execute(tables.inbox.insert().values(
            event_id=old.id, event_type=old.type, topic="t", received_at=old.time))
    statements.clear()

    chunk = [old, *new, new[0]]  # one handled before, one twice in the chunk
    with db.unit_of_work() as session:
        inbox = _Inbox(SimpleNamespace(session=session),  # type: ignore[arg-type]
                       tables.inbox, [{"ce_id": e.id.encode()} for e in chunk])
        firsts = [inbox.first_time(e, "t") for e in chunk]
        inbox.write()
    assert firsts == [False, True, True, True, False]
    assert statements == [("SELECT", 1), ("INSERT", 3)]
    with db.engine.connect() as connection:
        ids = set(connection.execute(select(tables.inbox.c.event_id)).scalars())
    assert ids == {e.id for e in chunk}
    db.dispose()
