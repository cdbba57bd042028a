"""The blind identity index: finding a victim's open case in an area without keeping names or
dates of birth in clear (keyed digests, `domain.identity_digests`), and keeping it up to date.

The index only narrows the search; `domain.match_victim` on the decrypted forms decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import bindparam, delete, insert, select

from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security.crypto import KeyErased
from services.referral import domain
from services.referral.config import ReferralConfig
from services.referral.forms import key_store, read_form
from services.referral.models import Case, CaseIdentity, Referral

IDENTITY_INFO = b"marac identity-index v1"


@dataclass(frozen=True)
class CaseMatch:
    case_id: str
    grounds: tuple[str, ...]


def identity_secret(runtime: Runtime, area_id: str, kid: str) -> bytes:
    """The area's identity-index key: derived from its area key, never stored or logged."""
    cache = runtime.config_as(ReferralConfig).identity_secrets
    found = cache.get((area_id, kid))
    if found is None:
        material = key_store(runtime).keyring.key(area_id, kid)
        found = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                     info=IDENTITY_INFO + b"\x00" + area_id.encode()).derive(material)
        cache[(area_id, kid)] = found
    return found


# Every referral submitted runs it: built once (building it cost about as much as running it).
_NAMED = select(CaseIdentity.case_id, CaseIdentity.kind).where(
    CaseIdentity.area_id == bindparam("area_id"),
    CaseIdentity.digest.in_(bindparam("digests", expanding=True)))


def find_open_case(
    uow: UnitOfWork, area_id: str, identity: domain.VictimIdentity, *, exclude: str | None = None
) -> CaseMatch | None:
    """The victim's open case in the area, if the blind index and `match_victim` agree.

    The index gives cases sharing a name and a date of birth (digests under every key id the
    area holds, so rows written before a key rotation still count); the forms of those cases'
    submitted referrals are then decrypted and matched, which also gives the grounds.
    """
    runtime = uow.runtime
    names: set[str] = set()
    births: set[str] = set()
    for kid in key_store(runtime).keyring.kids(area_id):
        secret = identity_secret(runtime, area_id, kid)
        for kind, digest in domain.identity_digests(identity, secret):
            (births if kind == domain.INDEX_DOB else names).add(digest)
    if not names or not births:
        return None
    # Names first, then dates of birth among those cases only: a date of birth alone is
    # shared by many cases of a busy area, and fetching them all grew with every referral.
    named = uow.session.execute(_NAMED, {"area_id": area_id, "digests": sorted(names)}).all()
    if not named:
        return None
    born = uow.session.execute(
        select(CaseIdentity.case_id, CaseIdentity.kind)
        .where(CaseIdentity.area_id == area_id, CaseIdentity.digest.in_(sorted(births)),
               CaseIdentity.case_id.in_(sorted({row.case_id for row in named})))
    ).all()
    candidates = domain.cases_sharing_name_and_dob(
        (row.case_id, row.kind) for row in (*named, *born))
    candidates -= {exclude} if exclude else set()
    if not candidates:
        return None
    open_cases = uow.session.scalars(
        select(Case.id).where(Case.id.in_(sorted(candidates)),
                              Case.status == domain.CaseStatus.OPEN)
    ).all()
    existing: list[domain.ExistingCase] = []
    for referral in uow.session.scalars(
        select(Referral).where(Referral.case_id.in_(sorted(open_cases)),
                               Referral.state != domain.ReferralState.DRAFT)
    ):
        try:
            victim = read_form(runtime, referral).get("victim") or {}
        except KeyErased:
            continue
        existing.append(domain.ExistingCase(referral.case_id,
                                            domain.VictimIdentity.from_form(victim)))
    matches = domain.match_victim(identity, existing)
    return CaseMatch(matches[0].case_id, matches[0].grounds) if matches else None


def index_identity(uow: UnitOfWork, case_id: str, area_id: str,
                   identity: domain.VictimIdentity, *, new_case: bool = False) -> None:
    """Add the victim's digests (under the area's current key) to the case's blind index
    (`new_case`: opened in this transaction, so it has none yet)."""
    kid = key_store(uow.runtime).keyring.current_kid(area_id)
    digests = domain.identity_digests(identity, identity_secret(uow.runtime, area_id, kid))
    known: set[str] = set() if new_case else set(uow.session.scalars(
        select(CaseIdentity.digest).where(CaseIdentity.case_id == case_id)))
    rows = [{"case_id": case_id, "area_id": area_id, "kind": kind, "kid": kid, "digest": digest}
            for kind, digest in sorted(digests) if digest not in known]
    if rows:  # one statement for all of them (ORM objects would be one INSERT each)
        uow.session.execute(insert(CaseIdentity), rows)


def reindex_case(uow: UnitOfWork, case_id: str, area_id: str) -> None:
    """Rebuild a case's blind index from the forms of the submitted referrals it holds (one
    left it: its victim's digests must stop finding this case), under the area's current key."""
    drop_index(uow, case_id)
    kept = list(uow.session.scalars(select(Referral).where(
        Referral.case_id == case_id, Referral.state != domain.ReferralState.DRAFT)))
    for referral in kept:
        try:
            victim = read_form(uow.runtime, referral).get("victim") or {}
        except KeyErased:
            return  # an erased case finds nobody
        index_identity(uow, case_id, area_id, domain.VictimIdentity.from_form(victim))


def drop_index(uow: UnitOfWork, case_id: str) -> None:
    """Forget an erased case's digests: keyed, but they still stand for a person."""
    uow.session.execute(delete(CaseIdentity).where(CaseIdentity.case_id == case_id))
