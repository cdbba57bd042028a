"""A referral's form as stored: what is not personal in clear, the rest one ciphertext under
its case's key (in the one key store, `marac_platform.keystore`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marac_platform.keystore import KeyStore
from marac_platform.runtime import Runtime
from services.referral.config import ReferralConfig
from services.referral.models import Referral
from services.referral.schemas import DRAFT, merge_personal, split_personal

PERSONAL_FIELD = "referral.personal"


def key_store(runtime: Runtime) -> KeyStore:
    """The process's key store, opened when the process started (services/referral/config.py)."""
    return runtime.config_as(ReferralConfig).keys


def store_form(runtime: Runtime, referral: Referral, form: Mapping[str, Any]) -> None:
    """Keep a loaded form: its personal part as one ciphertext under the case's key."""
    public, personal = split_personal(DRAFT.dump(form))
    referral.form_public = public
    referral.form_personal = key_store(runtime).encrypt(referral.case_id, PERSONAL_FIELD, personal)


def read_form(runtime: Runtime, referral: Referral) -> dict[str, Any]:
    """The stored form as JSON (raises KeyErased once the case is erased)."""
    personal = (
        key_store(runtime).decrypt(referral.case_id, PERSONAL_FIELD, referral.form_personal)
        if referral.form_personal
        else {}
    )
    return merge_personal(referral.form_public, personal)


def loaded_form(runtime: Runtime, referral: Referral) -> dict[str, Any]:
    """The stored form loaded again (dates as dates), as a use case works with it.

    What was stored passed the draft schema, and its only moving rule (no date in the future)
    only gets easier, so this load does not fail on what the service wrote.
    """
    form: dict[str, Any] = DRAFT.load(read_form(runtime, referral))
    return form
