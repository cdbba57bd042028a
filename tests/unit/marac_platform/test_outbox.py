"""The outbox queues a transaction's events and writes them together as it commits: with the
state change or not at all, in the order they were published."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, event, select

from marac_platform import outbox
from marac_platform.db import Database, PlatformTables
from marac_platform.events import REFERRAL_STATUS_CHANGED, Message, new_message


def message(n: int) -> Message:
    return new_message(REFERRAL_STATUS_CHANGED, source="/marac/referral", subject=f"case-{n}",
                       area="northshire", data={
                           "referral_id": f"ref-{n}", "case_id": f"case-{n}",
                           "area_id": "northshire", "from_state": "submitted",
                           "to_state": "assessed"})


def test_queued_events_are_written_in_one_statement_at_commit_and_dropped_on_rollback(
    tmp_path: Path,
) -> None:
    tables = PlatformTables(MetaData())
    db = Database(f"sqlite:///{tmp_path / 'outbox.db'}")
    tables.outbox.metadata.create_all(db.engine)
    inserts: list[int] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def count(_c: object, _cur: object, statement: str, params: list[object], _ctx: object,
              many: bool) -> None:
        if statement.startswith("INSERT INTO outbox"):
            inserts.append(len(params) if many else 1)

    with db.unit_of_work() as session:
        for n in range(3):
            outbox.add(session, tables, message(n))
        assert inserts == []  # nothing written yet
    assert inserts == [3]

    session = db.session()
    outbox.add(session, tables, message(3))
    session.rollback()
    outbox.add(session, tables, message(4))
    session.commit()
    session.close()
    with db.engine.connect() as connection:
        keys = connection.execute(select(tables.outbox.c.message_key)
                                  .order_by(tables.outbox.c.id)).scalars().all()
    assert keys == ["case-0", "case-1", "case-2", "case-4"]  # case-3 went with its rollback
    db.dispose()
