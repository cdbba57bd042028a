"""The SafeLives quarterly return, as rules: each referral's monitoring categories (worked out
once, at submission, from the form), the figures per MARAC date and for the quarter, the
summary's suppression and the CSV in the return's shape.

Plain Python (and marshmallow for the area's `reporting:` section): no flask, kafka or
sqlalchemy. Only counts leave here; a referral's flags never do.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from marshmallow import RAISE, Schema, fields, post_load, validate

from marac_platform.quarters import (
    NATIONAL_PER_10K,
    RECOMMENDED_PER_10K,
    Quarter,
    median_days,
    per_10k,
    suppressed,
)

# Ethnic groups not counted as Black, Asian or racially minoritised. SafeLives counts every
# other group (White Irish, Gypsy or Irish Traveller, Roma and White other too); "prefer not
# to say" and no answer count as not known.
NOT_MINORITISED: Final = frozenset({"white_british"})
UNKNOWN_ETHNICITY: Final = frozenset({"prefer_not_to_say"})

# The return's columns per MARAC date, in the order SafeLives' quarterly form asks for them.
COUNTS: Final = (
    "cases",
    "repeats",
    "police_referrals",
    "partner_referrals",
    "children",
    "minoritised",
    "lgbt_plus",
    "disabled",
    "male",
    "aged_16_17",
    "perpetrator_under_18",
    "heard_within_target",
    "monitoring_unknown",
)
FLAGS: Final = ("minoritised", "lgbt_plus", "disabled", "male", "aged_16_17",
                "perpetrator_under_18")


@dataclass(frozen=True)
class ReportingConfig:
    """An area's `reporting:` section."""

    adult_female_population: int | None = None
    police_agencies: tuple[str, ...] = ("police",)
    recommended_per_10k: float = RECOMMENDED_PER_10K
    national_per_10k: float = NATIONAL_PER_10K


class ReportingConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    # Women aged 16 and over in the area (ONS mid-year estimates): the rate's denominator.
    adult_female_population = fields.Int(
        strict=True, load_default=None, validate=validate.Range(min=1, max=50_000_000))
    # The agencies of the directory whose referrals are police referrals; the rest are partners'.
    police_agencies = fields.List(fields.Str(validate=validate.Length(1, 64)),
                                  load_default=lambda: ["police"], validate=validate.Length(max=20))
    recommended_per_10k = fields.Float(load_default=RECOMMENDED_PER_10K,
                                       validate=validate.Range(min=0.1, max=1000))
    national_per_10k = fields.Float(load_default=NATIONAL_PER_10K,
                                    validate=validate.Range(min=0.1, max=1000))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> ReportingConfig:
        data["police_agencies"] = tuple(data["police_agencies"])
        return ReportingConfig(**data)


# --- one referral's categories (at submission, from the whole form) -------------------------


def age_on(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _victim_aged_16_17(form: Mapping[str, Any], on: dt.date) -> bool:
    band = (form.get("diversity") or {}).get("age_band")
    if band is not None and band != "prefer_not_to_say":
        return bool(band == "16_17")
    victim = form.get("victim") or {}
    born = victim.get("dates_of_birth") or []
    if born:
        return 16 <= age_on(born[0], on) <= 17
    estimate = victim.get("age_estimate")
    return estimate in (16, 17)


def monitoring_flags(form: Mapping[str, Any], on: dt.date) -> dict[str, Any]:
    """What the return counts about one referral, from its submitted form on date `on`: yes/no
    flags and the number of children, nothing else (no value of the form is kept)."""
    diversity = form.get("diversity") or {}
    victim = form.get("victim") or {}
    ethnicity = diversity.get("ethnicity")
    gender = diversity.get("gender") or victim.get("gender")
    perpetrators = form.get("perpetrators") or []
    return {
        "children": len(form.get("children") or []),
        "minoritised": ethnicity is not None and ethnicity not in NOT_MINORITISED | UNKNOWN_ETHNICITY,
        "lgbt_plus": diversity.get("lgbt_plus") == "yes",
        "disabled": diversity.get("disability") == "yes",
        "male": gender == "male",
        "aged_16_17": _victim_aged_16_17(form, on),
        "perpetrator_under_18": any(
            p.get("date_of_birth") is not None and age_on(p["date_of_birth"], on) < 18
            for p in perpetrators),
    }


# --- the figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HeardReferral:
    """What the return reads of one referral heard in the quarter."""

    marac_date: dt.date
    received_on: dt.date | None  # its first submission, UK date
    target_date: dt.date | None
    repeat: bool
    referrer_agency: str
    monitoring: Mapping[str, Any] | None


@dataclass
class DateFigures:
    marac_date: dt.date | None  # None: the quarter's total
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    days_to_hearing: list[int] = field(default_factory=list)

    def add(self, heard: HeardReferral, police: frozenset[str]) -> None:
        c = self.counts
        c["cases"] += 1
        c["repeats"] += heard.repeat
        is_police = heard.referrer_agency in police
        c["police_referrals"] += is_police
        c["partner_referrals"] += not is_police
        if heard.target_date is not None and heard.marac_date <= heard.target_date:
            c["heard_within_target"] += 1
        if heard.received_on is not None:
            self.days_to_hearing.append((heard.marac_date - heard.received_on).days)
        if heard.monitoring is None:
            c["monitoring_unknown"] += 1
            return
        c["children"] += int(heard.monitoring.get("children") or 0)
        for flag in FLAGS:
            c[flag] += bool(heard.monitoring.get(flag))


def figures(quarter: Quarter, heard: Iterable[HeardReferral], config: ReportingConfig,
            meeting_dates: Iterable[dt.date] = ()) -> dict[str, Any]:
    """The quarter's return: a row per MARAC date (each date given in `meeting_dates` too, with
    no case heard), the quarter's total, the yearly rate per 10,000 adult women against the
    recommended and national levels, and time from referral to hearing."""
    police = frozenset(config.police_agencies)
    rows: dict[dt.date, DateFigures] = {d: DateFigures(d) for d in meeting_dates if quarter.contains(d)}
    total = DateFigures(None)
    for one in heard:
        if not quarter.contains(one.marac_date):
            continue
        rows.setdefault(one.marac_date, DateFigures(one.marac_date)).add(one, police)
        total.add(one, police)
    return {
        "quarter": str(quarter),
        "first_day": quarter.first_day,
        "last_day": quarter.last_day,
        "adult_female_population": config.adult_female_population,
        "cases_per_10k": per_10k(total.counts["cases"], config.adult_female_population),
        "recommended_per_10k": config.recommended_per_10k,
        "national_per_10k": config.national_per_10k,
        "meeting_dates": [_row(rows[d]) for d in sorted(rows)],
        "total": _row(total),
    }


def _row(figures: DateFigures) -> dict[str, Any]:
    return {"marac_date": figures.marac_date, **figures.counts,
            "median_days_to_hearing": median_days(figures.days_to_hearing)}


def summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report as the summary page shows it: every count under 5 reads "fewer than 5"."""

    def hide(row: Mapping[str, Any]) -> dict[str, Any]:
        return {k: suppressed(v) if k in COUNTS else v for k, v in row.items()}

    return {**report, "meeting_dates": [hide(r) for r in report["meeting_dates"]],
            "total": hide(report["total"]), "suppressed": True}


# --- CSV -------------------------------------------------------------------------------------

CSV_COLUMNS: Final = (
    ("marac_date", "MARAC date"),
    ("cases", "Cases discussed"),
    ("repeats", "Repeat cases"),
    ("police_referrals", "Referrals from police"),
    ("partner_referrals", "Referrals from partner agencies"),
    ("children", "Children in the households"),
    ("minoritised", "Victims Black, Asian or racially minoritised"),
    ("lgbt_plus", "Victims LGBT+"),
    ("disabled", "Victims with a disability"),
    ("male", "Male victims"),
    ("aged_16_17", "Victims aged 16-17"),
    ("perpetrator_under_18", "Perpetrators aged 17 or below"),
    ("median_days_to_hearing", "Median days from referral to hearing"),
    ("heard_within_target", "Heard within the target"),
    ("monitoring_unknown", "Monitoring not known"),
)


def to_csv(report: Mapping[str, Any], area_id: str) -> str:
    """The return as CSV: a heading row, a row per MARAC date, the quarter's total, then the
    rate lines. Values are counts, dates and codes, never free text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Area", "Quarter", *(title for _, title in CSV_COLUMNS)])

    def line(row: Mapping[str, Any], label: str | None = None) -> None:
        cells = [_cell(row[key]) for key, _ in CSV_COLUMNS]
        if label is not None:
            cells[0] = label
        writer.writerow([area_id, report["quarter"], *cells])

    for row in report["meeting_dates"]:
        line(row)
    line(report["total"], "Total")
    writer.writerow([])
    for key, title in (("adult_female_population", "Adult female population"),
                       ("cases_per_10k", "Cases per 10,000 adult women (a year)"),
                       ("recommended_per_10k", "Recommended per 10,000 (a year)"),
                       ("national_per_10k", "National per 10,000 (a year)")):
        writer.writerow([area_id, report["quarter"], title, _cell(report[key])])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)

