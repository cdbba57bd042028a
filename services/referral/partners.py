"""Transfers to and from another deployment (another region's platform): the partners each
area trusts, the signed packages and answers, their delivery with retries."""

from __future__ import annotations

from typing import Any

from marac_platform.areas import PartnerArea
from marac_platform.runtime import Runtime, UnitOfWork
from services.referral.models import TransferIn


def partner_of(runtime: Runtime, area_id: str, partner_id: str) -> PartnerArea | None:
    """The partner `partner_id` configured for `area_id` with a base URL to send to."""
    area = runtime.areas.get(area_id)
    if area is None:
        return None
    found = next((p for p in area.partners if p.id == partner_id), None)
    return found if found is not None and getattr(found, "base_url", None) else None


def queue_answer(uow: UnitOfWork, offer: TransferIn, *, new_case_id: str | None,
                 owner: str | None, owners: dict[str, Any]) -> None:
    """Keep the signed answer to a partner's transfer for the delivery job to send back."""
    raise NotImplementedError
