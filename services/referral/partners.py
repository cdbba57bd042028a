"""Transfers to and from another deployment (another region's platform): the partners each area
trusts, the signed and encrypted messages, and their delivery with retries.

A message is a JWS (RFC 7515, flattened JSON serialization, `application/jose+json`) over the
whole body, signed ES256 with our `sig` key for that partner. Its protected header names the
sender (`iss`), the receiving area (`aud`), the key (`kid`) and when it was signed (`iat`):
all signed, and read only to pick the key to check. Personal data (the package, the notes) is
inside the payload as a JWE (RFC 7516, ECDH-ES with A256GCM) to the partner's `enc` key, so
only the receiving area can read it. Nothing else is trusted: a partner is configured per area
(`partners` in the areas file), and a message for an area it is not a partner of is refused.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jwcrypto import jwe, jwk, jws
from jwcrypto.common import JWException
from sqlalchemy import select, update

from marac_platform import clock, events, payloads
from marac_platform.areas import PartnerArea
from marac_platform.db import utcnow
from marac_platform.runtime import Runtime, UnitOfWork
from services.referral import domain
from services.referral.config import ReferralConfig, TransferSettings
from services.referral.forms import key_store
from services.referral.models import TransferIn, TransferNote, TransferOut

log = logging.getLogger(__name__)

PATH = "/v1/transfers/inbound"
CONTENT_TYPE = "application/jose+json"
MESSAGE_TYPE = "marac-transfer+json"
SIGNATURE_ALG = "ES256"
ENCRYPTION = {"alg": "ECDH-ES", "enc": "A256GCM"}
PACKAGE, ANSWER, NOTE = "package", "answer", "note"
T = domain.TransferStatus


def settings(runtime: Runtime) -> TransferSettings:
    """The window, attempts and retry delay, read when the process started."""
    return runtime.config_as(ReferralConfig).transfers


RETRY_CAP_S = 3600.0
HTTP_TIMEOUT_S = 10.0
JWKS_CACHE_S = 300.0


class Refused(Exception):
    """An inbound message not accepted: the HTTP status and a reason code (no data)."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Message:
    sender: str  # the partner area that signed it
    target: str  # our area it is for
    payload: dict[str, Any]
    personal: Any  # the decrypted JWE content, or None


# --- configuration ----------------------------------------------------------------------------
def partner_of(runtime: Runtime, area_id: str, partner_id: str) -> PartnerArea | None:
    """The partner `partner_id` of our area `area_id` that transfers go to over HTTP."""
    area = runtime.areas.get(area_id)
    if area is None:
        return None
    found = next((p for p in area.partners if p.id == partner_id), None)
    return found if found is not None and found.base_url else None


_cache_lock = threading.Lock()
_our_keys: dict[Path, jwk.JWKSet] = {}
_their_keys: dict[str, tuple[float, jwk.JWKSet]] = {}


def our_keys(runtime: Runtime, partner: PartnerArea) -> jwk.JWKSet:
    """Our private keys for this partnership (a JWK Set file, relative to the areas file)."""
    assert partner.keys_file is not None
    path = Path(partner.keys_file)
    if not path.is_absolute():
        path = runtime.settings.areas_file.parent / path
    with _cache_lock:
        if path not in _our_keys:
            _our_keys[path] = jwk.JWKSet.from_json(path.read_text(encoding="utf-8"))
        return _our_keys[path]


def their_keys(partner: PartnerArea, *, refresh: bool = False) -> jwk.JWKSet:
    """The partner's public keys: inline (`jwk`, one key or a set) or its JWKS, cached."""
    if partner.jwk is not None:
        document = dict(partner.jwk)
        return jwk.JWKSet.from_json(json.dumps(document if "keys" in document
                                               else {"keys": [document]}))
    assert partner.jwks_url is not None
    with _cache_lock:
        cached = _their_keys.get(partner.jwks_url)
    if cached and not refresh and time.monotonic() - cached[0] < JWKS_CACHE_S:
        return cached[1]
    with urllib.request.urlopen(partner.jwks_url, timeout=HTTP_TIMEOUT_S) as response:
        keys = jwk.JWKSet.from_json(response.read().decode("utf-8"))
    with _cache_lock:
        _their_keys[partner.jwks_url] = (time.monotonic(), keys)
    return keys


def key_of(keys: jwk.JWKSet, use: str, kid: str | None = None) -> jwk.JWK | None:
    """The key for `use` (sig | enc), by `kid` when given; a key without `use` serves both."""
    for key in keys:
        if kid is not None and key.get("kid") != kid:
            continue
        if key.get("use") in (use, None):
            return key
    return None


# --- sealing and opening --------------------------------------------------------------------
def seal(runtime: Runtime, from_area: str, partner: PartnerArea, kind: str,
         fields: Mapping[str, Any], personal: Any) -> bytes:
    """A signed message for `partner`, with `personal` encrypted to its `enc` key."""
    mine = our_keys(runtime, partner)
    signing = key_of(mine, "sig")
    if signing is None:
        raise ValueError("no signing key for the partner")
    token = None
    if personal is not None:
        recipient = key_of(their_keys(partner), "enc")
        if recipient is None:
            raise ValueError("the partner publishes no encryption key")
        sealed = jwe.JWE(json.dumps(personal, default=str).encode(),
                         json.dumps({**ENCRYPTION, "kid": recipient.get("kid")}))
        sealed.add_recipient(recipient)
        token = sealed.serialize(compact=True)
    body = {"kind": kind, "version": domain.PACKAGE_VERSION, "from_area": from_area,
            "to_area": partner.id, **fields, "personal": token}
    message = jws.JWS(json.dumps(body, default=str).encode())
    message.add_signature(signing, None, json.dumps({
        "alg": SIGNATURE_ALG, "kid": signing.get("kid"), "typ": MESSAGE_TYPE,
        "iss": from_area, "aud": partner.id, "iat": int(clock.now().timestamp()),
        "jti": str(uuid.uuid4())}))
    sealed_body: str = message.serialize()
    return sealed_body.encode()


def _partners_named(runtime: Runtime, sender: str) -> list[tuple[str, PartnerArea]]:
    """(our area, partner) for every area here that configures `sender` as a partner."""
    return [(area.id, partner) for area in runtime.areas.by_id.values()
            for partner in area.partners if partner.id == sender and partner.base_url]


def looks_signed(body: bytes) -> bool:
    """Whether a body is meant as a signed message (a JWS in flattened JSON): a JSON object
    with `protected`, `payload` and `signature`."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and {"protected", "payload", "signature"} <= set(document)


def open_message(runtime: Runtime, body: bytes) -> Message:
    """Check an inbound message, in order: its form, the signing key (one of a configured
    partner's), the signature, that the sender is a partner of the area it is for, and its
    signing time; then decrypt what it carries. Refused (401/403) otherwise."""
    message = jws.JWS()
    try:
        message.deserialize(body.decode("utf-8"))
        header = message.jose_header
    except (JWException, ValueError, UnicodeDecodeError):
        raise Refused(401, "malformed-signature", "The body is not a signed message "
                      "(a JWS in flattened JSON).") from None
    if not isinstance(header, dict) or header.get("alg") != SIGNATURE_ALG:
        raise Refused(401, "unsupported-algorithm", f"Messages are signed {SIGNATURE_ALG}.")
    sender, target, kid = header.get("iss"), header.get("aud"), header.get("kid")
    if not all(isinstance(v, str) for v in (sender, target, kid)):
        raise Refused(401, "malformed-signature", "The signature names no sender, area or key.")
    assert isinstance(sender, str) and isinstance(target, str) and isinstance(kid, str)
    candidates = []
    for area_id, partner in _partners_named(runtime, sender):
        key = key_of(their_keys(partner), "sig", kid)
        if key is None and partner.jwks_url:
            key = key_of(their_keys(partner, refresh=True), "sig", kid)
        if key is not None:
            candidates.append((area_id, key))
    if not candidates:
        raise Refused(401, "unknown-signing-key",
                      "The message is signed with a key of no configured partner.")
    try:
        message.verify(candidates[0][1])
    except JWException:
        raise Refused(401, "bad-signature", "The signature does not verify.") from None
    if target not in {area_id for area_id, _key in candidates}:
        raise Refused(403, "not-a-partner",
                      "The sender is not a configured partner of the area it sends for.")
    signed_at = header.get("iat")
    if not isinstance(signed_at, int | float) or abs(
            clock.now().timestamp() - float(signed_at)) > settings(runtime).window_s:
        raise Refused(401, "outside-time-window", "The message was signed outside the "
                      "accepted time window (a replay is refused).")
    try:
        payload = json.loads(message.payload)
    except ValueError:
        raise Refused(401, "malformed-signature", "The signed payload is not JSON.") from None
    if (not isinstance(payload, dict) or payload.get("from_area") != sender
            or payload.get("to_area") != target):
        raise Refused(401, "header-mismatch",
                      "The payload's areas differ from the signed header's.")
    ours = partner_of(runtime, target, sender)
    assert ours is not None
    personal = None
    if payload.get("personal"):
        personal = _decrypt(runtime, ours, str(payload["personal"]))
    return Message(sender=sender, target=target, payload=payload, personal=personal)


def _decrypt(runtime: Runtime, partner: PartnerArea, token: str) -> Any:
    key = key_of(our_keys(runtime, partner), "enc")
    sealed = jwe.JWE()
    try:
        if key is None:
            raise ValueError("no decryption key")
        sealed.deserialize(token, key=key)
        return json.loads(sealed.payload)
    except (JWException, ValueError):
        raise Refused(401, "undecryptable", "The encrypted part is not for this area's key.") \
            from None


# --- receiving an answer ------------------------------------------------------------------------
def answer_received(uow: UnitOfWork, message: Message) -> TransferOut:
    """A partner answered one of our transfers: the answer is published here as the local
    transfer.accepted / declined, whose handler completes the transfer (once)."""
    from marac_platform.errors import InvalidInput, NotFound

    payload = message.payload
    transfer = uow.session.scalar(select(TransferOut).where(
        TransferOut.id == str(payload.get("transfer_id")), TransferOut.area_id == message.target,
        TransferOut.to_area == message.sender, TransferOut.remote.is_(True)))
    if transfer is None:
        raise NotFound("No such transfer.")
    decision = payload.get("decision")
    if decision not in payloads.TRANSFER_DECISIONS:
        raise InvalidInput("decision", "Must be accepted or declined.")
    if transfer.status != T.REQUESTED:
        return transfer  # answered already: the same answer again changes nothing
    answered_at = datetime.fromisoformat(str(payload["answered_at"]))
    common = {"transfer_id": transfer.id, "case_id": transfer.case_id,
              "from_area": transfer.area_id, "to_area": transfer.to_area,
              "decision": decision, "answered_at": answered_at}
    if decision == "accepted":
        uow.publish(events.TRANSFER_ACCEPTED, subject=transfer.case_id, area=transfer.area_id,
                    data=payloads.TransferAccepted(
                        **common, new_case_id=str(payload["new_case_id"]), decline_reason=None,
                        action_owner_agency=None, action_owners={}))
    else:
        uow.publish(events.TRANSFER_DECLINED, subject=transfer.case_id, area=transfer.area_id,
                    data=payloads.TransferDeclined(
                        **common, new_case_id=None,
                        decline_reason=str(payload.get("decline_reason") or "other")))
    transfer.delivery = "answered"
    return transfer


def queue_answer(uow: UnitOfWork, offer: TransferIn, *, new_case_id: str | None,
                 owner: str | None, owners: dict[str, Any]) -> None:
    """Keep the answer to a partner's transfer for the delivery job to send back, signed."""
    offer.answer = json.dumps({
        "transfer_id": offer.id, "decision": offer.status, "new_case_id": new_case_id,
        "decline_reason": offer.decline_reason,
        "answered_at": (offer.answered_at or utcnow()).isoformat()})
    offer.answer_delivery = "pending"
    offer.answer_next_at = utcnow()


# --- delivery -----------------------------------------------------------------------------------
def post(url: str, body: bytes) -> int:
    """POST a sealed message; the HTTP status, or 0 when the partner could not be reached."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": CONTENT_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


def next_try(attempts: int, now: datetime, first_s: float) -> datetime:
    """When to send again after `attempts` sends: `first_s`, doubling, at most an hour."""
    return now + timedelta(seconds=min(RETRY_CAP_S, first_s * 2.0 ** (attempts - 1)))


def outcome(status: int) -> str:
    """delivered | retry | failed: a refusal (4xx) will not change by sending again."""
    if 200 <= status < 300:
        return "delivered"
    if 400 <= status < 500 and status not in (408, 425, 429):
        return "failed"
    return "retry"


def _due(runtime: Runtime, model: Any, column: Any, at: Any, now: datetime) -> list[str]:
    with runtime.unit_of_work() as uow:
        return list(uow.session.scalars(select(model.id).where(
            column == "pending", at <= now).order_by(at).limit(20)))


def _locked(uow: UnitOfWork, model: Any, transfer_id: str) -> Any:
    statement = select(model).where(model.id == transfer_id)
    if uow.runtime.db.is_postgres:
        statement = statement.with_for_update(skip_locked=True)
    return uow.session.scalar(statement)


def deliver_packages(runtime: Runtime, now: datetime | None = None) -> int:
    """The timed job: send each pending package to its partner, once per due time; retried
    with backoff until accepted or, after `MARAC_TRANSFER_MAX_ATTEMPTS` or a refusal, failed
    (the transfer's state says which, for A's coordinator)."""
    from services.referral import transfers

    now = now or utcnow()
    sent = 0
    for transfer_id in _due(runtime, TransferOut, TransferOut.delivery,
                            TransferOut.next_attempt_at, now):
        with runtime.unit_of_work() as uow:
            transfer = _locked(uow, TransferOut, transfer_id)
            if transfer is None or transfer.delivery != "pending":
                continue
            partner = partner_of(runtime, transfer.area_id, transfer.to_area)
            status = 0
            built_at = utcnow()
            if partner is not None and partner.base_url:
                package = transfers.package_json(transfers.build_package(uow, transfer))
                body = seal(runtime, transfer.area_id, partner, PACKAGE,
                            {"transfer_id": transfer.id}, package)
                status = post(partner.base_url.rstrip("/") + PATH, body)
            transfer.attempts += 1
            result = outcome(status) if partner is not None else "failed"
            if result == "retry" and transfer.attempts >= settings(runtime).max_attempts:
                result = "failed"
            transfer.last_error = None if result == "delivered" else (
                f"http-{status}" if status else "unreachable")
            if result == "delivered":
                transfer.delivery = "delivered"
                uow.session.execute(update(TransferNote).where(  # they went in the package
                    TransferNote.transfer_id == transfer.id, TransferNote.side == "out",
                    TransferNote.at <= built_at).values(pending=False))
                sent += 1
            elif result == "failed":
                transfer.delivery = "failed"
                transfer.status = domain.TRANSFER_MOVES.move(T(transfer.status), T.FAILED).value
                # Once: the move to failed happens once, in this transaction with the event.
                uow.publish(events.TRANSFER_FAILED, subject=transfer.case_id,
                            area=transfer.area_id, data=payloads.TransferFailed(
                                transfer_id=transfer.id, case_id=transfer.case_id,
                                from_area=transfer.area_id, to_area=transfer.to_area,
                                attempts=transfer.attempts,
                                reason_code=transfer.last_error or "failed",
                                failed_at=utcnow()))
                log.error("transfer package finally not delivered", extra={
                    "transfer_id": transfer.id, "reason_code": transfer.last_error})
            else:
                transfer.next_attempt_at = next_try(transfer.attempts, utcnow(),
                                                    settings(runtime).retry_s)
                log.warning("transfer package not delivered; retrying", extra={
                    "transfer_id": transfer.id, "reason_code": transfer.last_error,
                    "attempt": transfer.attempts})
    return sent


def deliver_answers(runtime: Runtime, now: datetime | None = None) -> int:
    """The timed job: send each pending answer back to the partner that sent the transfer."""
    now = now or utcnow()
    sent = 0
    for transfer_id in _due(runtime, TransferIn, TransferIn.answer_delivery,
                            TransferIn.answer_next_at, now):
        with runtime.unit_of_work() as uow:
            offer = _locked(uow, TransferIn, transfer_id)
            if offer is None or offer.answer_delivery != "pending" or offer.answer is None:
                continue
            partner = partner_of(runtime, offer.area_id, offer.from_area)
            status = 0
            if partner is not None and partner.base_url:
                body = seal(runtime, offer.area_id, partner, ANSWER, json.loads(offer.answer),
                            None)
                status = post(partner.base_url.rstrip("/") + PATH, body)
            offer.answer_attempts += 1
            result = outcome(status) if partner is not None else "failed"
            if result == "retry" and offer.answer_attempts >= settings(runtime).max_attempts:
                result = "failed"
            if result == "retry":
                offer.answer_next_at = next_try(offer.answer_attempts, utcnow(),
                                                settings(runtime).retry_s)
            else:
                offer.answer_delivery = result
                sent += result == "delivered"
    return sent


def deliver_notes(runtime: Runtime) -> int:
    """The timed job: send the coordinators' notes written here on a transfer with another
    deployment (A's once its package has arrived; they went in it before). A note not
    delivered stays pending and is sent on a later run."""
    from services.referral import transfers

    with runtime.unit_of_work() as uow:
        waiting = sorted(set(uow.session.execute(select(
            TransferNote.transfer_id, TransferNote.side).where(
            TransferNote.pending.is_(True))).tuples()))
    sent = 0
    for transfer_id, side in waiting:
        with runtime.unit_of_work() as uow:
            if side == "out":
                out = uow.session.get(TransferOut, transfer_id)
                if out is None or out.delivery not in ("delivered", "answered"):
                    continue
                area_id, partner_id, key_case = out.area_id, out.to_area, out.case_id
            else:
                offer = uow.session.get(TransferIn, transfer_id)
                if offer is None:
                    continue
                area_id, partner_id, key_case = offer.area_id, offer.from_area, transfers.b_key(offer)
            partner = partner_of(runtime, area_id, partner_id)
            rows = list(uow.session.scalars(select(TransferNote).where(
                TransferNote.transfer_id == transfer_id, TransferNote.side == side,
                TransferNote.pending.is_(True)).order_by(TransferNote.at, TransferNote.id)))
            if partner is None or partner.base_url is None or not rows:
                continue
            store = key_store(runtime)
            notes = [{"from_area": row.from_area, "author": row.author, "at": row.at.isoformat(),
                      "text": store.decrypt(key_case, transfers.NOTE_FIELD, row.text)}
                     for row in rows if row.text]
            body = seal(runtime, area_id, partner, NOTE, {"transfer_id": transfer_id},
                        {"notes": notes})
            if outcome(post(partner.base_url.rstrip("/") + PATH, body)) != "retry":
                for row in rows:
                    row.pending = False
                sent += len(rows)
    return sent


def notes_received(uow: UnitOfWork, message: Message) -> str:
    """A partner's coordinator wrote notes on a transfer we share: kept on our side, once."""
    from marac_platform.errors import NotFound
    from services.referral import transfers

    transfer_id = str(message.payload.get("transfer_id"))
    offer = uow.session.scalar(select(TransferIn).where(
        TransferIn.id == transfer_id, TransferIn.from_area == message.sender,
        TransferIn.remote.is_(True)))
    out = None if offer is not None else uow.session.scalar(select(TransferOut).where(
        TransferOut.id == transfer_id, TransferOut.to_area == message.sender,
        TransferOut.remote.is_(True)))
    if offer is not None:
        side, area_id, key_case, status = "in", offer.area_id, transfers.b_key(offer), offer.status
    elif out is not None:
        side, area_id, key_case, status = "out", out.area_id, out.case_id, out.status
    else:
        raise NotFound("No such transfer.")
    for note in (message.personal or {}).get("notes") or []:
        at = datetime.fromisoformat(str(note["at"]))
        known = uow.session.scalar(select(TransferNote.id).where(
            TransferNote.transfer_id == transfer_id, TransferNote.side == side,
            TransferNote.author == str(note["author"]), TransferNote.at == at))
        if known is None:  # the same notes sent again are kept once
            transfers.write_note(uow, transfer_id, side, area_id, key_case, str(note["author"]),
                                 str(note["text"]), from_area=message.sender, at=at)
    return status


def deliver(runtime: Runtime) -> None:
    deliver_packages(runtime)
    deliver_answers(runtime)
    deliver_notes(runtime)
