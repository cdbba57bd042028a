"""The role -> permission table and the checks built on it."""

from __future__ import annotations

import pytest

from marac_platform.security.roles import (
    AGENCY_MEMBERS,
    PERMISSIONS,
    Forbidden,
    Permission,
    Role,
    allowed,
    case_areas,
    is_area_id,
    needs_agreement,
    require,
    visible_areas,
)
from marac_platform.security.tokens import Principal, PrincipalKind

P = Permission
READ_CASE_DATA = {
    P.REFERRAL_READ_OWN,
    P.REFERRAL_READ_AREA,
    P.RISK_READ,
    P.CASELIST_READ,
    P.ACTION_READ,
    P.MEETING_READ,
}


def principal(
    role: Role, areas: tuple[str, ...] = ("area-a",), kind: PrincipalKind | None = None
) -> Principal:
    if kind is None:
        kind = "partner_area" if role is Role.PARTNER_AREA else "person"
    return Principal(
        subject="user-1",
        agency="agency-1",
        role=role,
        areas=frozenset(areas),
        issuer="marac-dev",
        kind=kind,
    )


def test_table_is_total() -> None:
    assert set(PERMISSIONS) == set(Role)
    for role in Role:
        assert PERMISSIONS[role], role


def test_every_permission_is_granted_to_someone() -> None:
    granted = set().union(*PERMISSIONS.values())
    assert granted == set(Permission)


def test_permission_values_are_the_wire_codes() -> None:
    assert {p.value for p in Permission} == {
        "referral.create",
        "referral.read_own",
        "referral.read_area",
        "referral.screen",
        "referral.erase",
        "risk.preview",
        "risk.read",
        "checklist.read",
        "meeting.read",
        "meeting.manage",
        "caselist.read",
        "allocation.read",
        "action.read",
        "action.write",
        "updates.submit",
        "updates.manage",
        "notification.read",
        "audit.read",
        "config.admin",
        "transfer.send",
        "transfer.receive",
        "report.read",
    }


def test_table_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        PERMISSIONS[Role.AUDITOR] = frozenset(Permission)  # type: ignore[index]


def test_referrer() -> None:
    assert PERMISSIONS[Role.REFERRER] == {
        P.REFERRAL_CREATE,
        P.REFERRAL_READ_OWN,
        P.RISK_PREVIEW,
        P.CHECKLIST_READ,
    }


def test_idva_is_agency_rep_plus_area_referrals() -> None:
    assert PERMISSIONS[Role.IDVA] == PERMISSIONS[Role.AGENCY_REP] | {
        P.REFERRAL_READ_AREA,
        P.REFERRAL_READ_OWN,
        P.REFERRAL_CREATE,
    }


@pytest.mark.parametrize("role", list(Role))
def test_whoever_refers_or_reads_an_areas_referrals_reads_their_own(role: Role) -> None:
    # One rule gates every read of referrals (list and one alike): referral.read_own. A role
    # that could create a referral or read the area's, but not that, would list nothing and
    # still read one (an IDVA did), or never see its own draft again.
    grants = PERMISSIONS[role]
    if grants & {P.REFERRAL_CREATE, P.REFERRAL_READ_AREA}:
        assert P.REFERRAL_READ_OWN in grants


def test_agency_members_are_held_to_their_agencys_agreement_for_case_data() -> None:
    assert {Role.AGENCY_REP, Role.IDVA} == AGENCY_MEMBERS
    for role in Role:
        who = principal(role)
        for permission in PERMISSIONS[role]:
            expected = role in AGENCY_MEMBERS and permission not in {P.CHECKLIST_READ, P.RISK_PREVIEW}
            assert needs_agreement(who, permission) is expected, (role, permission)


def test_case_areas_drop_areas_without_the_agencys_agreement_for_agency_members_only() -> None:
    def in_force(area: str, agency: str) -> bool:
        return (area, agency) == ("area-a", "agency-1")

    for role in Role:
        who = principal(role, ("area-a", "area-b"))
        expected = {"area-a"} if role in AGENCY_MEMBERS else visible_areas(who)
        assert case_areas(who, in_force) == expected, role
    assert case_areas(principal(Role.IDVA, ("area-b",)), in_force) == frozenset()


def test_auditor_reads_the_audit_trail_and_the_returns_counts_only() -> None:
    auditor = principal(Role.AUDITOR)
    # report.read is the quarterly return's counts: still no case data (checked below).
    assert PERMISSIONS[Role.AUDITOR] == {P.AUDIT_READ, P.REPORT_READ}
    for permission in READ_CASE_DATA:
        assert not allowed(auditor, permission)
        with pytest.raises(Forbidden):
            require(auditor, permission)
    require(auditor, P.AUDIT_READ)
    require(auditor, P.REPORT_READ)


def test_admin_erases_and_configures_but_does_not_read_cases() -> None:
    assert PERMISSIONS[Role.ADMIN] == {P.CONFIG_ADMIN, P.REFERRAL_ERASE, P.AUDIT_READ}
    assert not READ_CASE_DATA & PERMISSIONS[Role.ADMIN]


def test_only_admin_erases_and_configures() -> None:
    for role in Role:
        if role is not Role.ADMIN:
            assert P.REFERRAL_ERASE not in PERMISSIONS[role]
            assert P.CONFIG_ADMIN not in PERMISSIONS[role]


def test_coordinator_and_chair_manage_their_areas() -> None:
    for role in (Role.COORDINATOR, Role.CHAIR):
        grants = PERMISSIONS[role]
        assert {P.REFERRAL_READ_AREA, P.REFERRAL_SCREEN, P.MEETING_MANAGE, P.RISK_READ} <= grants
        assert not {P.AUDIT_READ, P.REFERRAL_ERASE, P.CONFIG_ADMIN, P.TRANSFER_SEND} & grants


def test_partner_area_only_sends_transfers() -> None:
    assert PERMISSIONS[Role.PARTNER_AREA] == {P.TRANSFER_SEND}
    assert allowed(principal(Role.PARTNER_AREA), P.TRANSFER_SEND)
    assert visible_areas(principal(Role.PARTNER_AREA, ("area-x",))) == frozenset()


def test_kind_and_role_must_agree() -> None:
    # Built by hand (the verifier never produces these): a person holding the service role,
    # and a partner area's key claiming a person's role, get nothing.
    impostor = principal(Role.PARTNER_AREA, kind="person")
    assert not allowed(impostor, P.TRANSFER_SEND)
    assert visible_areas(impostor) == frozenset()
    partner_as_chair = principal(Role.CHAIR, kind="partner_area")
    assert not allowed(partner_as_chair, P.REFERRAL_READ_AREA)
    assert visible_areas(partner_as_chair) == frozenset()


def test_require_raises_forbidden_with_code() -> None:
    with pytest.raises(Forbidden) as info:
        require(principal(Role.REFERRER), P.REFERRAL_READ_AREA)
    assert info.value.permission is P.REFERRAL_READ_AREA
    assert str(info.value) == "forbidden: referral.read_area"


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.PARTNER_AREA])
def test_visible_areas_are_the_token_areas(role: Role) -> None:
    assert visible_areas(principal(role, ("area-a", "area-b"))) == {"area-a", "area-b"}


@pytest.mark.parametrize("role", list(Role))
def test_allowed_matches_table(role: Role) -> None:
    who = principal(role)
    for permission in Permission:
        assert allowed(who, permission) == (permission in PERMISSIONS[role])


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("area-a", True),
        ("north.yorks_1", True),
        ("A" * 64, True),
        ("", False),
        ("-area", False),
        ("area a", False),
        ("area:a", False),
        ("A" * 65, False),
        (7, False),
    ],
)
def test_is_area_id(value: object, ok: bool) -> None:
    assert is_area_id(value) is ok


def test_a_research_return_is_sent_by_agency_members_and_managed_by_the_marac() -> None:
    # A return is an agency's own; coordinators and chairs compile the document from them.
    sends = {role for role in Role if P.UPDATES_SUBMIT in PERMISSIONS[role]}
    assert sends == AGENCY_MEMBERS
    manages = {role for role in Role if P.UPDATES_MANAGE in PERMISSIONS[role]}
    assert manages == {Role.COORDINATOR, Role.CHAIR}
