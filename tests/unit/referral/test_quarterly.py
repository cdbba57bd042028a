"""The SafeLives return's rules: each referral's categories from its form, the figures per
MARAC date (a quarter with no meeting too), the summary's suppression, the CSV and the chart."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from marac_platform.areas import AreaConfigError, load_areas, parse_areas
from marac_platform.quarters import SUPPRESSED, Quarter
from services.referral import chart
from services.referral.config import reporting_section
from services.referral.quarterly import (
    COUNTS,
    HeardReferral,
    ReportingConfig,
    ReportingConfigSchema,
    figures,
    monitoring_flags,
    summary,
    to_csv,
)

ON = date(2026, 5, 12)
Q2 = Quarter(2026, 2)
SVG = "{http://www.w3.org/2000/svg}"


def form(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"victim": {"dates_of_birth": [date(1990, 1, 1)]}, "perpetrators": [
        {"date_of_birth": date(1985, 6, 1)}], "children": []}
    base.update(parts)
    return base


def test_flags_from_the_diversity_section_and_ages_on_the_referral_date() -> None:
    flags = monitoring_flags(form(
        diversity={"ethnicity": "white_other", "lgbt_plus": "yes", "disability": "no",
                   "gender": "male", "age_band": "16_17"},
        children=[{}, {}, {}]), ON)
    assert flags == {"children": 3, "minoritised": True, "lgbt_plus": True, "disabled": False,
                     "male": True, "aged_16_17": True, "perpetrator_under_18": False}
    assert set(flags) == {"children", *(c for c in COUNTS if c in flags)}


@pytest.mark.parametrize(("ethnicity", "minoritised"), [
    ("white_british", False), ("prefer_not_to_say", False), (None, False),
    ("black_caribbean", True), ("asian_indian", True), ("white_gypsy_irish_traveller", True),
    ("mixed_white_asian", True)])
def test_black_asian_or_minoritised(ethnicity: str | None, minoritised: bool) -> None:
    diversity = {} if ethnicity is None else {"ethnicity": ethnicity}
    assert monitoring_flags(form(diversity=diversity), ON)["minoritised"] is minoritised


def test_ages_from_dates_of_birth_when_no_band_is_given() -> None:
    # 17 the day before the 18th birthday, 18 on it; leap-day births have their birthday on 1 March.
    victim = {"dates_of_birth": [date(2008, 5, 13)]}
    assert monitoring_flags(form(victim=victim), ON)["aged_16_17"] is True
    assert monitoring_flags(form(victim={"dates_of_birth": [date(2008, 5, 12)]}), ON)["aged_16_17"] is False
    assert monitoring_flags(form(victim={"age_estimate": 16}), ON)["aged_16_17"] is True
    young = [{"date_of_birth": date(2008, 2, 29)}]
    assert monitoring_flags(form(perpetrators=young), date(2026, 2, 28))["perpetrator_under_18"] is True
    assert monitoring_flags(form(perpetrators=young), date(2026, 3, 1))["perpetrator_under_18"] is False
    assert monitoring_flags(form(perpetrators=[{}]), ON)["perpetrator_under_18"] is False


def heard(day: date, **changes: Any) -> HeardReferral:
    values: dict[str, Any] = {"marac_date": day, "received_on": date(2026, 4, 1),
                              "target_date": date(2026, 5, 13), "repeat": False,
                              "referrer_agency": "police", "monitoring": {"children": 2, "male": True}}
    values.update(changes)
    return HeardReferral(**values)


def test_figures_per_meeting_date_and_the_quarter() -> None:
    config = ReportingConfig(adult_female_population=30_000)
    report = figures(Q2, [
        heard(date(2026, 5, 12)),
        heard(date(2026, 5, 12), repeat=True, referrer_agency="health", monitoring=None,
              target_date=date(2026, 5, 1)),
        heard(date(2026, 6, 30), received_on=date(2026, 6, 2)),
        heard(date(2026, 7, 1)),  # the next quarter
        heard(date(2026, 3, 31)),  # the previous one
    ], config)
    assert [r["marac_date"] for r in report["meeting_dates"]] == [date(2026, 5, 12), date(2026, 6, 30)]
    first, second = report["meeting_dates"]
    assert (first["cases"], first["repeats"], first["police_referrals"], first["partner_referrals"],
            first["children"], first["male"], first["monitoring_unknown"],
            first["heard_within_target"]) == (2, 1, 1, 1, 2, 1, 1, 1)
    assert first["median_days_to_hearing"] == 41.0
    assert second["median_days_to_hearing"] == 28.0
    assert report["total"]["cases"] == 3 and report["total"]["marac_date"] is None
    assert report["total"]["median_days_to_hearing"] == 41.0
    assert report["cases_per_10k"] == 4.0  # 3 a quarter, 12 a year among 30,000
    assert (report["recommended_per_10k"], report["national_per_10k"]) == (40.0, 47.0)


def test_a_quarter_with_no_meeting() -> None:
    report = figures(Quarter(2026, 3), [], ReportingConfig())
    assert report["meeting_dates"] == []
    assert all(report["total"][c] == 0 for c in COUNTS)
    assert report["total"]["median_days_to_hearing"] is None
    assert report["cases_per_10k"] is None  # no population configured
    shown = summary(report)
    assert all(shown["total"][c] == SUPPRESSED for c in COUNTS)
    lines = list(csv.reader(io.StringIO(to_csv(report, "northshire"))))
    assert lines[1][:3] == ["northshire", "2026-Q3", "Total"]
    svg = chart.svg(report, "Northshire MARAC")
    root = ET.fromstring(svg)
    assert "No case was heard in 2026-Q3" in (root.findtext(f"{SVG}desc") or "")
    assert "no levels are drawn" in (root.findtext(f"{SVG}desc") or "")


def test_summary_reads_fewer_than_5_under_5_and_keeps_the_rest() -> None:
    report = figures(Q2, [heard(date(2026, 5, 12)) for _ in range(6)], ReportingConfig())
    shown = summary(report)
    row = shown["meeting_dates"][0]
    assert row["cases"] == 6 and row["children"] == 12 and row["male"] == 6
    assert row["repeats"] == SUPPRESSED and row["partner_referrals"] == SUPPRESSED
    assert row["median_days_to_hearing"] == 41.0 and shown["suppressed"] is True
    assert report["meeting_dates"][0]["repeats"] == 0  # the full view is untouched


def test_csv_has_the_returns_columns_a_row_per_date_and_the_total() -> None:
    report = figures(Q2, [heard(date(2026, 5, 12)), heard(date(2026, 6, 9))],
                     ReportingConfig(adult_female_population=100_000))
    rows = list(csv.reader(io.StringIO(to_csv(report, "northshire"))))
    assert rows[0][:4] == ["Area", "Quarter", "MARAC date", "Cases discussed"]
    assert [r[2] for r in rows[1:4]] == ["2026-05-12", "2026-06-09", "Total"]
    assert rows[3][3] == "2"
    assert ["northshire", "2026-Q2", "Cases per 10,000 adult women (a year)", "0.8"] in rows
    assert ["northshire", "2026-Q2", "Adult female population", "100000"] in rows


def test_chart_has_a_bar_per_date_the_two_levels_a_title_and_a_text_alternative() -> None:
    report = figures(Q2, [heard(date(2026, 5, 12)), heard(date(2026, 5, 12)), heard(date(2026, 6, 9))],
                     ReportingConfig(adult_female_population=10_000))
    root = ET.fromstring(chart.svg(report, "Northshire <MARAC>"))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "chart-title chart-desc"
    assert root.findtext(f"{SVG}title") == "Cases discussed per MARAC date, Northshire <MARAC>, 2026-Q2"
    desc = root.findtext(f"{SVG}desc") or ""
    assert "2026-05-12: 2 cases; 2026-06-09: 1 case." in desc
    assert "recommended 40 (5 per date)" in desc and "national 47 (5.9 per date)" in desc
    assert len(root.findall(f"{SVG}rect")) == 2
    dashed = [ln for ln in root.findall(f"{SVG}line") if ln.get("stroke-dasharray")]
    assert {ln.get("stroke") for ln in dashed} == {chart.RECOMMENDED, chart.NATIONAL}
    # The higher level sits higher (a smaller y) than the lower one.
    levels = {ln.get("stroke"): float(ln.get("y1") or 0) for ln in dashed
              if ln.get("x1") == str(chart.LEFT) and ln.get("x2") == str(chart.WIDTH - chart.RIGHT)}
    assert levels[chart.NATIONAL] < levels[chart.RECOMMENDED]


def test_reporting_section_is_validated() -> None:
    assert ReportingConfigSchema().load({}) == ReportingConfig()
    loaded = ReportingConfigSchema().load({"adult_female_population": 250_000,
                                           "police_agencies": ["police", "btp"],
                                           "national_per_10k": 45})
    assert loaded.police_agencies == ("police", "btp") and loaded.national_per_10k == 45.0
    for bad in ({"adult_female_population": 0}, {"adult_female_population": "250000"},
                {"adult_female_population": 2.5}, {"recommended_per_10k": 0}, {"populaton": 1}):
        with pytest.raises(ValidationError):
            ReportingConfigSchema().load(bad)


def test_the_areas_file_reporting_sections_load_and_a_police_agency_must_be_in_the_directory() -> None:
    root = Path(__file__).resolve().parents[3]
    areas = load_areas(root / "deploy" / "areas.yaml")
    north = reporting_section(areas.by_id["northshire"], areas.source)
    assert north.adult_female_population == 245_000 and north.police_agencies == ("police",)
    document = {"areas": [{"id": "eastshire", "name": "Eastshire MARAC",
                           "confidentiality_statement": "Confidential.",
                           "agencies": [{"id": "police", "name": "Police", "isa_signed": True}],
                           "reporting": {"police_agencies": ["constabulary"]}}]}
    east = parse_areas(document, Path("areas.yaml")).by_id["eastshire"]
    with pytest.raises(AreaConfigError, match=r"areas\[eastshire\]\.reporting\.police_agencies\.0"):
        reporting_section(east, Path("areas.yaml"))
    east = parse_areas({"areas": [{**document["areas"][0], "reporting": {  # type: ignore[dict-item]
        "adult_female_population": -3}}]}, Path("areas.yaml")).by_id["eastshire"]
    with pytest.raises(AreaConfigError, match="adult_female_population"):
        reporting_section(east, Path("areas.yaml"))
