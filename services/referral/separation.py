"""Undoing a wrong join: a coordinator finds a referral that joined the victim's open case is
not the same victim, and gives it a case of its own.

Only before it is accepted (`domain.SEPARABLE_STATES` less `submitted`): until then only risk
knows it under the joined case, and risk follows the referral to its new case when it is
assessed again. After acceptance scheduling, actions and notify hold it under the joined case.
A submitted one is being assessed; it can be separated once its assessment is in (seconds),
so that no assessment of the old case can arrive after the one of the new.
"""

from __future__ import annotations

from sqlalchemy import select

from marac_platform import events
from marac_platform.db import new_id, utcnow
from marac_platform.runtime import UnitOfWork
from services.referral import domain, identity
from services.referral.forms import key_store, loaded_form, store_form
from services.referral.models import Case, Referral, ScreeningDecision
from services.referral.service import (
    SCREENING_REASON_FIELD,
    declared_dates,
    move,
    publish_about,
    submitted_payload,
    victim_of,
)

S = domain.ReferralState
SEPARABLE = domain.SEPARABLE_STATES - {S.SUBMITTED}


def separate(uow: UnitOfWork, referral: Referral, by: str) -> str | None:
    """Move the referral off the case it joined onto a new case with a key of its own; the
    case it left (None: it was separated before, and this changes nothing).

    Its form and screening reasons are encrypted again under the new key; the old case's
    blind index is rebuilt from the referrals it keeps, and the new case indexes this victim,
    so the next referral of either victim finds the right case. An assessed or screened
    referral goes back to risk on its own case: the repeat criterion may differ there. A
    returned one waits for its referrer, who submits it again on the new case.
    """
    if referral.separated_from is not None and not referral.linked_case_grounds:
        return None
    if not referral.linked_case_grounds:
        raise domain.ReferralStateConflict(
            "The referral did not join an existing case: there is nothing to separate.")
    if referral.transfer_id is not None:
        raise domain.ReferralStateConflict(
            "A referral opened by accepting a transfer keeps the case the transfer gave it.")
    if referral.state == S.SUBMITTED:
        raise domain.ReferralStateConflict(
            "The referral is being assessed: separate it once its assessment is in.")
    domain.ensure_state(referral.state, SEPARABLE, "is on its case's MARAC date and cannot "
                        "be separated from it")
    runtime = uow.runtime
    store = key_store(runtime)
    form = loaded_form(runtime, referral)  # under the old case's key, before it changes
    decisions = list(uow.session.scalars(
        select(ScreeningDecision).where(ScreeningDecision.referral_id == referral.id,
                                        ScreeningDecision.reason.is_not(None))))
    reasons = [(row, store.decrypt(referral.case_id, SCREENING_REASON_FIELD, row.reason))
               for row in decisions if row.reason]
    left, now = referral.case_id, utcnow()
    case_id = new_id("case")
    store.create(case_id, referral.area_id)
    uow.session.add(Case(id=case_id, area_id=referral.area_id,
                         status=domain.CaseStatus.OPEN, opened_at=now))
    referral.case_id = case_id
    store_form(runtime, referral, form)
    for row, text in reasons:
        row.reason = store.encrypt(case_id, SCREENING_REASON_FIELD, text)
    referral.linked_case_grounds = None
    referral.link_confirmed_by = referral.link_confirmed_at = None
    referral.separated_from, referral.separated_by = left, by
    referral.separated_at = referral.updated_at = now
    identity.reindex_case(uow, left, referral.area_id)
    identity.index_identity(uow, case_id, referral.area_id, victim_of(form), new_case=True)
    if referral.state in (S.ASSESSED, S.IN_SCREENING):
        # The joined case's earlier referrals no longer count; risk settles the flag again.
        referral.repeat = domain.is_repeat(referral.referral_date or now.date(),
                                           declared_dates(form))
        move(uow, referral, S.SUBMITTED, by)
        publish_about(uow, referral, events.REFERRAL_SUBMITTED, submitted_payload(referral, form))
    return left
