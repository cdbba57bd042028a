"""The quarterly return's chart as SVG, drawn on the server in plain Python: a bar of cases per
MARAC date, with the recommended and the national levels drawn across as lines.

The levels are yearly rates per 10,000 adult women; drawn beside bars of cases per date, each
becomes the cases a date would hear at that rate: rate x population / 10,000 / 4 quarters,
shared among the quarter's dates. Without a configured population there are no lines, and
the text alternative says why. Accessible: role="img" with a <title> and a <desc> that says
every value, so a screen reader (or a page without images) reads the whole chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from xml.sax.saxutils import escape

from marac_platform.quarters import RATE_BASE, round_half_up

WIDTH: Final = 720
HEIGHT: Final = 360
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 48, 72
BAR = "#1d70b8"  # GOV.UK blue; the lines differ by dash as well as colour
RECOMMENDED = "#00703c"
NATIONAL = "#d4351c"


def level_per_date(rate_per_10k: float, population: int | None, dates: int) -> float | None:
    """Cases per MARAC date that a yearly rate per 10,000 adult women stands for."""
    if population is None or dates == 0:
        return None
    return rate_per_10k * population / RATE_BASE / 4 / dates


def svg(report: Mapping[str, Any], area_name: str) -> str:
    """The chart of one area's quarter (the referral service's return, full counts)."""
    rows = report["meeting_dates"]
    population = report["adult_female_population"]
    recommended = level_per_date(report["recommended_per_10k"], population, len(rows))
    national = level_per_date(report["national_per_10k"], population, len(rows))
    values = [int(r["cases"]) for r in rows]
    top = max([1.0, *values, *(v for v in (recommended, national) if v is not None)])
    scale = (HEIGHT - TOP - BOTTOM) / (top * 1.1)
    base = HEIGHT - BOTTOM
    title = f"Cases discussed per MARAC date, {area_name}, {report['quarter']}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" '
        'font-family="Arial, sans-serif" font-size="14">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(describe(report, recommended, national))}</desc>',
        f'<text x="{LEFT}" y="24" font-size="16" font-weight="bold" fill="#0b0c0c">'
        f'{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#0b0c0c"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#0b0c0c"/>',
        f'<text x="{LEFT - 8}" y="{base + 5}" text-anchor="end" fill="#0b0c0c">0</text>',
        f'<text x="{LEFT - 8}" y="{base - top * scale + 5:.1f}" text-anchor="end" '
        f'fill="#0b0c0c">{top:.0f}</text>',
    ]
    if not rows:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#0b0c0c">'
                     'No case was heard this quarter.</text>')
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(rows))
    bar_width = min(48.0, slot * 0.6)
    for index, (row, value) in enumerate(zip(rows, values, strict=True)):
        x = LEFT + slot * index + (slot - bar_width) / 2
        height = value * scale
        label = row["marac_date"].isoformat()
        parts.append(
            f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{bar_width:.1f}" height="{height:.1f}" '
            f'fill="{BAR}"><title>{escape(f"{label}: {_cases(value)}")}</title></rect>')
        parts.append(f'<text x="{x + bar_width / 2:.1f}" y="{base - height - 6:.1f}" '
                     f'text-anchor="middle" fill="#0b0c0c">{value}</text>')
        parts.append(f'<text x="{x + bar_width / 2:.1f}" y="{base + 18}" text-anchor="middle" '
                     f'fill="#0b0c0c" font-size="12">{escape(label)}</text>')
    # One legend line each: side by side, "(245.0 per date)" ran into the next one.
    for name, level, colour, dash, legend_y in (
            ("Recommended", recommended, RECOMMENDED, "8 4", HEIGHT - 32),
            ("National", national, NATIONAL, "2 3", HEIGHT - 10)):
        if level is None:
            continue
        x = LEFT
        y = base - level * scale
        rate = report["recommended_per_10k" if name == "Recommended" else "national_per_10k"]
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     f'stroke="{colour}" stroke-width="3" stroke-dasharray="{dash}"/>')
        parts.append(f'<line x1="{x}" y1="{legend_y - 5}" x2="{x + 30}" y2="{legend_y - 5}" '
                     f'stroke="{colour}" stroke-width="3" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{x + 38}" y="{legend_y}" fill="#0b0c0c">'
                     f'{escape(f"{name}: {rate:g} per 10,000 a year ({level:.1f} per date)")}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cases(count: int) -> str:
    return f"{count} case" if count == 1 else f"{count} cases"


def describe(report: Mapping[str, Any], recommended: float | None, national: float | None) -> str:
    """The chart in words: its text alternative."""
    rows = report["meeting_dates"]
    if rows:
        bars = "; ".join(f"{r['marac_date'].isoformat()}: {_cases(int(r['cases']))}" for r in rows)
        text = f"Cases discussed per MARAC date in {report['quarter']}: {bars}."
    else:
        text = f"No case was heard in {report['quarter']}."
    rate = report["cases_per_10k"]
    if recommended is None or national is None or rate is None:
        return text + " No adult female population is configured, so no levels are drawn."
    return (text + f" At {rate:g} cases per 10,000 adult women a year, against the recommended "
            f"{report['recommended_per_10k']:g} ({round_half_up(recommended):g} per date) and the "
            f"national {report['national_per_10k']:g} ({round_half_up(national):g} per date).")


__all__ = ["describe", "level_per_date", "svg"]
