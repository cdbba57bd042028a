"""The areas file's agency directory: who has an information-sharing agreement in force, and when."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from marac_platform.areas import AreaConfigError, Areas, parse_areas

SOURCE = Path("areas.yaml")


def areas_with(*agencies: str) -> Areas:
    text = "areas:\n  - id: testshire\n    name: Testshire MARAC\n    confidentiality_statement: x\n"
    text += "    agencies:\n" + "".join(f"      - {agency}\n" for agency in agencies)
    document: Any = yaml.safe_load(text)
    return parse_areas(document, SOURCE)


def test_an_agreement_is_in_force_when_signed_and_up_to_its_last_day() -> None:
    areas = areas_with(
        "{id: police, name: Police, isa_signed: true}",
        "{id: health, name: Health, isa_signed: true, isa_expires: 2027-03-31}",
        "{id: probation, name: Probation, isa_signed: false}",
    )
    last_day, after = dt.date(2027, 3, 31), dt.date(2027, 4, 1)
    assert areas.shares_with("testshire", "police", after)
    assert areas.shares_with("testshire", "health", last_day)
    assert not areas.shares_with("testshire", "health", after)  # lapsed
    assert not areas.shares_with("testshire", "probation", last_day)  # never signed
    assert not areas.shares_with("testshire", "housing", last_day)  # not in the directory
    assert not areas.shares_with("elsewhere", "police", last_day)  # not an area served here
    area = areas.by_id["testshire"]
    assert [a.id for a in area.isa_agencies(last_day)] == ["police", "health"]
    assert [a.id for a in area.isa_agencies(after)] == ["police"]


@pytest.mark.parametrize(("agency", "reason"), [
    ("{id: health, name: Health, isa_signed: true, isa_expires: 31/03/2027}", "Not a valid date."),
    ("{id: health, name: Health, isa_signed: true, isa_expires: 2027-03-31T10:00:00}",
     "Must be a date (YYYY-MM-DD), not a date and time."),
    ("{id: probation, name: Probation, isa_signed: false, isa_expires: 2027-03-31}",
     "Only a signed agreement has dates."),
])
def test_a_wrong_expiry_stops_start_up_naming_the_key(agency: str, reason: str) -> None:
    with pytest.raises(AreaConfigError) as info:
        areas_with(agency)
    assert str(info.value) == f"{SOURCE}: areas.0.agencies.0.isa_expires: {reason}"
