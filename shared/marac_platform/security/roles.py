"""Roles, permissions and the one table that maps each role to what it may do."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tokens imports Role from here; Principal is only needed for annotations
    from marac_platform.security.tokens import Principal


# Area ids appear in tokens, key rings and wrapped keys; one spelling keeps them unambiguous.
_AREA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_area_id(value: object) -> bool:
    """Whether value is a well-formed area id (letters, digits, `.`, `_`, `-`; at most 64)."""
    return isinstance(value, str) and _AREA_ID.fullmatch(value) is not None


class Role(StrEnum):
    """The `role` claim of a token; values are the wire spelling."""

    REFERRER = "referrer"
    AGENCY_REP = "agency_rep"
    IDVA = "idva"
    COORDINATOR = "coordinator"
    CHAIR = "chair"
    AUDITOR = "auditor"
    ADMIN = "admin"
    # Service role of a partner MARAC area sending inter-MARAC transfers, never a person.
    PARTNER_AREA = "partner_area"


class Permission(StrEnum):
    """One thing an API call may do; views and use cases name the permission they need."""

    REFERRAL_CREATE = "referral.create"
    REFERRAL_READ_OWN = "referral.read_own"
    REFERRAL_READ_AREA = "referral.read_area"
    REFERRAL_SCREEN = "referral.screen"
    REFERRAL_ERASE = "referral.erase"
    RISK_PREVIEW = "risk.preview"
    RISK_READ = "risk.read"
    CHECKLIST_READ = "checklist.read"
    MEETING_READ = "meeting.read"
    MEETING_MANAGE = "meeting.manage"
    CASELIST_READ = "caselist.read"
    ALLOCATION_READ = "allocation.read"
    ACTION_READ = "action.read"
    ACTION_WRITE = "action.write"
    UPDATES_SUBMIT = "updates.submit"
    UPDATES_MANAGE = "updates.manage"
    NOTIFICATION_READ = "notification.read"
    AUDIT_READ = "audit.read"
    CONFIG_ADMIN = "config.admin"
    TRANSFER_SEND = "transfer.send"
    TRANSFER_RECEIVE = "transfer.receive"
    # The SafeLives quarterly return: counts per MARAC date, never a case or a person.
    REPORT_READ = "report.read"


class Forbidden(Exception):
    """The principal's role does not grant the permission; carries the permission code only."""

    def __init__(self, permission: Permission) -> None:
        super().__init__(f"forbidden: {permission.value}")
        self.permission = permission


P = Permission

_AGENCY_REP = frozenset(
    {
        P.CASELIST_READ,
        P.MEETING_READ,
        P.ACTION_READ,
        P.ACTION_WRITE,
        P.UPDATES_SUBMIT,
        P.CHECKLIST_READ,
    }
)

# Coordinators and chairs run the MARAC for their areas: they read and manage everything
# area-wide, but erasure, audit and configuration stay with admin/auditor (separation of duties).
_AREA_MANAGER = frozenset(
    {
        P.REFERRAL_CREATE,
        P.REFERRAL_READ_OWN,
        P.REFERRAL_READ_AREA,
        P.REFERRAL_SCREEN,
        P.RISK_PREVIEW,
        P.RISK_READ,
        P.CHECKLIST_READ,
        P.MEETING_READ,
        P.MEETING_MANAGE,
        P.CASELIST_READ,
        P.ALLOCATION_READ,
        P.ACTION_READ,
        P.ACTION_WRITE,
        # An agency's research return is the agency's own: coordinators and chairs read them
        # and compile the information-and-updates document (its versions, the chair's record).
        P.UPDATES_MANAGE,
        P.NOTIFICATION_READ,
        P.TRANSFER_RECEIVE,
        P.REPORT_READ,
    }
)

PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.REFERRER: frozenset(
            {P.REFERRAL_CREATE, P.REFERRAL_READ_OWN, P.RISK_PREVIEW, P.CHECKLIST_READ}
        ),
        Role.AGENCY_REP: _AGENCY_REP,
        # An IDVA refers, reads what it referred and its areas' submitted referrals.
        Role.IDVA: _AGENCY_REP | {P.REFERRAL_READ_AREA, P.REFERRAL_READ_OWN, P.REFERRAL_CREATE},
        Role.COORDINATOR: _AREA_MANAGER,
        Role.CHAIR: _AREA_MANAGER,
        # Auditors check the return's figures too: counts only, no case data.
        Role.AUDITOR: frozenset({P.AUDIT_READ, P.REPORT_READ}),
        Role.ADMIN: frozenset({P.CONFIG_ADMIN, P.REFERRAL_ERASE, P.AUDIT_READ}),
        Role.PARTNER_AREA: frozenset({P.TRANSFER_SEND}),
    }
)

# Roles whose holders see cases as members of their agency: only in the areas whose directory
# lists that agency with its information-sharing agreement in force (signed, not lapsed).
# Coordinators and chairs run the MARAC and admins and auditors act for it, whatever agency
# employs them; referrers read only what they wrote. None of those is held to an agreement.
AGENCY_MEMBERS: frozenset[Role] = frozenset({Role.AGENCY_REP, Role.IDVA})

# What tells nothing about a case: an agency member may do these without an agreement.
NO_CASE_DATA: frozenset[Permission] = frozenset({P.CHECKLIST_READ, P.RISK_PREVIEW})

del P


def _role_matches_kind(principal: Principal) -> bool:
    # A partner area's key may only speak as a partner area, and a person never as one; the
    # verifier enforces this already, checked again so a hand-built Principal cannot slip by.
    return (principal.kind == "partner_area") == (principal.role is Role.PARTNER_AREA)


def allowed(principal: Principal, permission: Permission) -> bool:
    """Whether the principal's role grants the permission (area scoping is separate)."""
    if not _role_matches_kind(principal):
        return False
    return permission in PERMISSIONS.get(principal.role, frozenset())


def require(principal: Principal, permission: Permission) -> None:
    """Raise `Forbidden(permission)` unless the principal's role grants it."""
    if not allowed(principal, permission):
        raise Forbidden(permission)


def visible_areas(principal: Principal) -> frozenset[str]:
    """Areas whose case data the principal may see.

    A partner area's `areas` claim names the area it speaks for, not areas it may read here,
    so it sees none; every other role sees exactly the areas in its token.
    """
    if not _role_matches_kind(principal) or principal.kind == "partner_area":
        return frozenset()
    return principal.areas


def needs_agreement(principal: Principal, permission: Permission) -> bool:
    """Whether using `permission` needs the caller's agency to share under an agreement."""
    return principal.role in AGENCY_MEMBERS and permission not in NO_CASE_DATA


def case_areas(principal: Principal, in_force: Callable[[str, str], bool]) -> frozenset[str]:
    """Areas whose cases the principal may see: `visible_areas`, less, for an agency member,
    those where `in_force(area_id, agency_id)` says its agency has no agreement in force."""
    areas = visible_areas(principal)
    if principal.role not in AGENCY_MEMBERS:
        return areas
    return frozenset(area for area in areas if in_force(area, principal.agency))
