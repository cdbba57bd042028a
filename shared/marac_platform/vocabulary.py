"""Words several services share, defined once: the four criteria, the meeting models, hearing
outcomes, DASH answers and the repeat window (with the calendar-month arithmetic it uses)."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Final, Literal

CriterionName = Literal["visible_high_risk", "professional_judgement", "potential_escalation",
                        "repeat"]
CRITERIA: Final[tuple[CriterionName, ...]] = (
    "visible_high_risk", "professional_judgement", "potential_escalation", "repeat")

# Meeting: agencies meet on the date. Co-ordination: the date closes the information round.
Model = Literal["meeting", "coordination"]
MODELS: Final[tuple[Model, ...]] = ("meeting", "coordination")

OUTCOMES: Final = ("heard", "deferred")

ANSWERS: Final = ("yes", "no", "dont_know")

# A repeat: referred again within 12 calendar months of the last referral to any MARAC.
REPEAT_WINDOW_MONTHS: Final = 12


def add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later, clamped to the month's end.

    Jan 31 + 1 month is Feb 28 (29 in a leap year); Feb 29 + 12 months is Feb 28.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last_day))
