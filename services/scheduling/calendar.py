"""Area MARAC calendars: configuration, meeting dates, bank holidays, cut-offs, case-list times.

Everything here is local to England and Wales: dates are local dates and every datetime is
aware and in Europe/London, so a 10:00 meeting stays at 10:00 on the wall clock when the
clocks change and its UTC offset moves instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal, TypeAlias, TypeVar, cast, get_args
from zoneinfo import ZoneInfo

import holidays
from marshmallow import Schema, ValidationError, fields, post_load, validate

from marac_platform.vocabulary import MODELS, Model

LONDON = ZoneInfo("Europe/London")

HolidayPolicy: TypeAlias = Literal["next_working_day", "previous_working_day", "skip"]
Nth: TypeAlias = int | Literal["last"]
_Date: TypeAlias = date  # MeetingOccurrence has a field called `date`

HOLIDAY_POLICIES: tuple[str, ...] = get_args(HolidayPolicy)

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAY_NAMES = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)

# A meeting that a holiday or closure would push further than this is dropped instead: it
# also bounds how far outside a requested range meeting_dates must look.
MAX_MOVE_DAYS = 31
# Coordination model: agencies' information is due by close of business unless configured.
DEFAULT_COORDINATION_CLOSE = time(17, 0)
DEFAULT_CASELIST_TIME = time(9, 0)


class InvalidCalendarConfig(ValueError):
    """A calendar configuration breaks a rule; `problems` maps field names to messages."""

    def __init__(self, problems: Mapping[str, list[str]]) -> None:
        self.problems: dict[str, list[str]] = dict(problems)
        super().__init__("invalid calendar configuration: " + ", ".join(sorted(self.problems)))


class _Checked:
    """Frozen dataclasses that refuse to exist in an invalid state."""

    def _problems(self) -> dict[str, list[str]]:
        return {}

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise InvalidCalendarConfig(problems)


def _weekday_problem(weekday: int) -> str | None:
    if not 0 <= weekday <= 6:
        return "Weekday must be 0 (Monday) to 6 (Sunday)."
    if weekday >= 5:
        return "Must be a working weekday (Monday to Friday)."
    return None


def _nth_problem(nth: object, allow_fifth: bool) -> str | None:
    allowed = (1, 2, 3, 4, 5) if allow_fifth else (1, 2, 3, 4)
    if nth == "last" or (isinstance(nth, int) and not isinstance(nth, bool) and nth in allowed):
        return None
    return f"Must be one of {', '.join(map(str, allowed))} or 'last'."


# --- patterns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyPattern(_Checked):
    """Every week on the given weekdays (0 = Monday)."""

    weekdays: tuple[int, ...]

    def _problems(self) -> dict[str, list[str]]:
        msgs = [m for m in map(_weekday_problem, self.weekdays) if m]
        if not self.weekdays:
            msgs.append("At least one weekday is required.")
        if len(set(self.weekdays)) != len(self.weekdays):
            msgs.append("Weekdays must not repeat.")
        return {"weekdays": msgs} if msgs else {}


@dataclass(frozen=True)
class FortnightlyPattern(_Checked):
    """Every other week on the anchor's weekday, counting from the anchor (both ways)."""

    anchor: date

    def _problems(self) -> dict[str, list[str]]:
        msg = _weekday_problem(self.anchor.weekday())
        return {"anchor": [msg]} if msg else {}


@dataclass(frozen=True)
class MonthlyPattern(_Checked):
    """The n-th weekday of each month; nth 5 means "the fifth, in months that have one"."""

    weekday: int
    nth: Nth

    def _problems(self) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        if msg := _weekday_problem(self.weekday):
            problems["weekday"] = [msg]
        if msg := _nth_problem(self.nth, allow_fifth=True):
            problems["nth"] = [msg]
        return problems


Pattern: TypeAlias = WeeklyPattern | FortnightlyPattern | MonthlyPattern


# --- cut-off rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedMonthlyCutoff(_Checked):
    """Referrals for a month's meetings must arrive by `at` on the n-th weekday of the month."""

    weekday: int
    nth: Nth
    at: time

    def _problems(self) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        if msg := _weekday_problem(self.weekday):
            problems["weekday"] = [msg]
        if msg := _nth_problem(self.nth, allow_fifth=False):
            problems["nth"] = [msg]
        if self.at.tzinfo is not None:
            problems["time"] = ["Must be a local time without an offset."]
        return problems


@dataclass(frozen=True)
class WorkingDaysBeforeCutoff(_Checked):
    """Referrals must arrive by `at` on the day `days` working days before the meeting date."""

    days: int
    at: time

    def _problems(self) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        if self.days < 0:
            problems["days"] = ["Must be greater than or equal to 0."]
        if self.at.tzinfo is not None:
            problems["time"] = ["Must be a local time without an offset."]
        return problems


CutoffRule: TypeAlias = FixedMonthlyCutoff | WorkingDaysBeforeCutoff


# --- the area calendar ----------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarConfig(_Checked):
    """One area's MARAC calendar (the `scheduling` section of the area configuration).

    `start_time` is the meeting's start in the meeting model and, in the coordination model,
    the time on the MARAC date by which agencies' information is due. `max_cases` caps the
    cases per meeting (meeting model) or per date (coordination model).
    """

    model: Model
    pattern: Pattern
    start_time: time
    cutoff: CutoffRule
    max_cases: int
    slot_minutes: int | None = None
    length_minutes: int = 0
    holiday_policy: HolidayPolicy = "next_working_day"
    closure_dates: frozenset[date] = field(default_factory=frozenset)
    min_notice_days: int = 5
    target_weeks: int | None = None
    caselist_days_before: int = 4
    caselist_time: time = DEFAULT_CASELIST_TIME

    def __post_init__(self) -> None:
        # Accept any iterable of dates but keep the config hashable and immutable.
        object.__setattr__(self, "closure_dates", frozenset(self.closure_dates))
        super().__post_init__()

    @property
    def effective_target_weeks(self) -> int:
        """Weeks from referral to hearing: 6 for monthly MARACs, 4 for more frequent ones."""
        if self.target_weeks is not None:
            return self.target_weeks
        return 6 if isinstance(self.pattern, MonthlyPattern) else 4

    def _problems(self) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}

        def add(name: str, msg: str) -> None:
            problems.setdefault(name, []).append(msg)

        if self.model not in MODELS:
            add("model", f"Must be one of: {', '.join(MODELS)}.")
        if self.holiday_policy not in HOLIDAY_POLICIES:
            add("holiday_policy", f"Must be one of: {', '.join(HOLIDAY_POLICIES)}.")
        if self.max_cases < 1:
            add("max_cases", "Must be greater than or equal to 1.")
        if self.model == "meeting":
            if self.slot_minutes is None or self.slot_minutes < 1:
                add("slot_minutes", "A positive slot length is required for the meeting model.")
            elif self.length_minutes < self.slot_minutes:
                add("length_minutes", "Must be at least one slot long.")
            elif self.max_cases * self.slot_minutes > self.length_minutes:
                add(
                    "max_cases",
                    f"{self.max_cases} slots of {self.slot_minutes} minutes do not fit in a "
                    f"{self.length_minutes}-minute meeting.",
                )
        elif self.model == "coordination":
            if self.slot_minutes is not None:
                add("slot_minutes", "Not used by the coordination model.")
            if self.length_minutes != 0:
                add("length_minutes", "Not used by the coordination model.")
        for name in ("start_time", "caselist_time"):
            if cast(time, getattr(self, name)).tzinfo is not None:
                add(name, "Must be a local time without an offset.")
        if (
            isinstance(self.cutoff, WorkingDaysBeforeCutoff)
            and self.cutoff.days == 0
            and self.cutoff.at.replace(tzinfo=None) >= self.start_time.replace(tzinfo=None)
        ):
            add("cutoff", "With days 0 the cut-off time must be before start_time.")
        if self.min_notice_days < 0:
            add("min_notice_days", "Must be greater than or equal to 0.")
        if self.target_weeks is not None and self.target_weeks < 1:
            add("target_weeks", "Must be greater than or equal to 1.")
        if self.caselist_days_before < 0:
            add("caselist_days_before", "Must be greater than or equal to 0.")
        return problems


@dataclass(frozen=True)
class MeetingOccurrence:
    """One MARAC date: a meeting, or in the coordination model the closing date for updates.

    `start` and `end` are aware (Europe/London); in the coordination model both are the time
    agencies' information is due. `moved_from` is the pattern date a holiday or closure moved
    it from; `ad_hoc` marks a date a coordinator added.
    """

    date: date
    start: datetime
    end: datetime
    capacity: int
    moved_from: _Date | None = None
    ad_hoc: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("meeting start and end must be timezone-aware")


# --- local time and working days ------------------------------------------------------------


def local_datetime(day: date, at: time) -> datetime:
    """`at` on `day` in Europe/London; a time in the spring-forward gap lands just after it."""
    naive = datetime.combine(day, at.replace(tzinfo=None))
    return naive.replace(tzinfo=LONDON).astimezone(UTC).astimezone(LONDON)


def add_minutes(moment: datetime, minutes: int) -> datetime:
    """Elapsed-time arithmetic (aware datetimes add wall-clock time, wrong across a change)."""
    return (moment.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(LONDON)


def local_date(moment: datetime) -> date:
    """The Europe/London calendar date of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(LONDON).date()


@lru_cache(maxsize=128)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_bank_holiday(day: date) -> bool:
    """England and Wales bank holiday (including substitute days and one-off holidays)."""
    return day in _bank_holidays(day.year)


def is_working_day(config: CalendarConfig, day: date) -> bool:
    """Monday to Friday, not a bank holiday, not one of the area's closure dates."""
    return day.weekday() < 5 and not is_bank_holiday(day) and day not in config.closure_dates


def shift_working_days(config: CalendarConfig, day: date, n: int) -> date:
    """The date `n` working days after `day` (before it if n < 0); `day` itself never counts."""
    step = timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    current = day
    while remaining:
        current += step
        if is_working_day(config, current):
            remaining -= 1
    return current


def _nearest_working_day(config: CalendarConfig, day: date, forwards: bool) -> date | None:
    step = timedelta(days=1 if forwards else -1)
    current = day
    for _ in range(MAX_MOVE_DAYS + 1):
        if is_working_day(config, current):
            return current
        current += step
    return None


def nth_weekday(year: int, month: int, weekday: int, nth: Nth) -> date | None:
    """The n-th `weekday` of the month, or None when the month has no such day (a fifth)."""
    if nth == "last":
        next_month = date(year + month // 12, month % 12 + 1, 1)
        last = next_month - timedelta(days=1)
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    return day if day.month == month else None


def _months(lo: date, hi: date) -> Iterator[tuple[int, int]]:
    year, month = lo.year, lo.month
    while (year, month) <= (hi.year, hi.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def pattern_dates(pattern: Pattern, lo: date, hi: date) -> Iterator[date]:
    """The pattern's nominal dates in [lo, hi], in order, before holidays are applied."""
    if isinstance(pattern, WeeklyPattern):
        day = lo
        while day <= hi:
            if day.weekday() in pattern.weekdays:
                yield day
            day += timedelta(days=1)
    elif isinstance(pattern, FortnightlyPattern):
        day = pattern.anchor + timedelta(days=14 * -(-(lo - pattern.anchor).days // 14))
        while day <= hi:
            yield day
            day += timedelta(days=14)
    else:
        for year, month in _months(lo, hi):
            found = nth_weekday(year, month, pattern.weekday, pattern.nth)
            if found is not None and lo <= found <= hi:
                yield found


# --- meeting dates --------------------------------------------------------------------------


def _occurrence(
    config: CalendarConfig, day: date, moved_from: date | None = None, ad_hoc: bool = False
) -> MeetingOccurrence:
    start = local_datetime(day, config.start_time)
    return MeetingOccurrence(
        date=day,
        start=start,
        end=add_minutes(start, config.length_minutes),
        capacity=config.max_cases,
        moved_from=moved_from,
        ad_hoc=ad_hoc,
    )


def meeting_dates(
    config: CalendarConfig,
    start: date,
    end: date,
    extra_dates: Iterable[date] = (),
    cancelled: Iterable[date] = (),
) -> list[MeetingOccurrence]:
    """The area's MARAC dates falling in [start, end] (inclusive), in date order.

    A pattern date on a non-working day moves by `holiday_policy`; a moved meeting that lands
    on a date already taken is dropped rather than doubled. A cancellation names the date of
    the meeting, or for a moved one either its pattern date or its new date. Ad hoc dates are
    taken as the coordinator gave them (no holiday policy) unless a meeting is already there.
    """
    if end < start:
        return []
    cancelled_set = frozenset(cancelled)
    pad = timedelta(days=MAX_MOVE_DAYS)
    taken: dict[date, MeetingOccurrence] = {}
    moves: list[tuple[date, date]] = []
    for nominal in pattern_dates(config.pattern, start - pad, end + pad):
        if nominal in cancelled_set:
            continue
        if is_working_day(config, nominal):
            taken[nominal] = _occurrence(config, nominal)
        elif config.holiday_policy != "skip":
            forwards = config.holiday_policy == "next_working_day"
            actual = _nearest_working_day(config, nominal, forwards)
            if actual is not None:
                moves.append((nominal, actual))
    # Regular meetings first, so that a moved meeting never displaces one.
    for nominal, actual in moves:
        if actual not in taken and actual not in cancelled_set:
            taken[actual] = _occurrence(config, actual, moved_from=nominal)
    for extra in extra_dates:
        if extra not in taken and extra not in cancelled_set:
            taken[extra] = _occurrence(config, extra, ad_hoc=True)
    return [taken[d] for d in sorted(taken) if start <= d <= end]


def next_dates(
    config: CalendarConfig,
    today: date,
    count: int = 12,
    extra_dates: Iterable[date] = (),
    cancelled: Iterable[date] = (),
    horizon_days: int = 5 * 366,
) -> list[MeetingOccurrence]:
    """The next `count` MARAC dates on or after `today` (fewer if the horizon runs out)."""
    if count <= 0:
        return []
    extras, cancels = tuple(extra_dates), tuple(cancelled)
    window = 400
    while True:
        window = min(window, horizon_days)
        found = meeting_dates(config, today, today + timedelta(days=window), extras, cancels)
        if len(found) >= count or window >= horizon_days:
            return found[:count]
        window *= 4


# --- cut-offs and case lists ----------------------------------------------------------------


def _on_or_before_working_day(config: CalendarConfig, day: date) -> date:
    while not is_working_day(config, day):
        day -= timedelta(days=1)
    return day


def _fixed_cutoff_day(
    config: CalendarConfig, rule: FixedMonthlyCutoff, year: int, month: int
) -> date:
    nominal = nth_weekday(year, month, rule.weekday, rule.nth)
    assert nominal is not None  # nth is 1..4 or "last": every month has one
    return _on_or_before_working_day(config, nominal)


def cutoff_for(config: CalendarConfig, meeting: MeetingOccurrence) -> datetime:
    """The last moment (inclusive) a referral can arrive and still go to `meeting`.

    Fixed monthly: the n-th weekday of the meeting's month, or of the month before when the
    meeting comes first (e.g. a first-Tuesday meeting with a first-Wednesday cut-off). A
    cut-off day that is not a working day moves back to the previous working day.
    """
    rule = config.cutoff
    if isinstance(rule, WorkingDaysBeforeCutoff):
        return local_datetime(shift_working_days(config, meeting.date, -rule.days), rule.at)
    day = _fixed_cutoff_day(config, rule, meeting.date.year, meeting.date.month)
    if day >= meeting.date:
        prev = meeting.date.replace(day=1) - timedelta(days=1)
        day = _fixed_cutoff_day(config, rule, prev.year, prev.month)
    return local_datetime(day, rule.at)


def caselist_publish_at(config: CalendarConfig, meeting: MeetingOccurrence) -> datetime:
    """When the case list goes to agencies: `caselist_time`, `caselist_days_before` calendar
    days before the date, brought back to a working day so agencies get their full time."""
    day = meeting.date - timedelta(days=config.caselist_days_before)
    return local_datetime(_on_or_before_working_day(config, day), config.caselist_time)


# --- loading from the area configuration ----------------------------------------------------


def _weekday_index(value: object) -> int:
    if isinstance(value, str):
        name = value.strip().lower()
        if name in WEEKDAY_NAMES:
            return WEEKDAY_NAMES.index(name)
        if name in _FULL_WEEKDAY_NAMES:
            return _FULL_WEEKDAY_NAMES.index(name)
    raise ValidationError("Not a weekday: use mon, tue, wed, thu or fri.")


class _Weekday(fields.Field[int]):
    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        return _weekday_index(value)


class _NthField(fields.Field[Nth]):
    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Nth:
        if value == "last" or (isinstance(value, int) and not isinstance(value, bool)):
            return cast(Nth, value)
        raise ValidationError("Must be a whole number or 'last'.")


class _ClockTime(fields.Time):
    """Local wall-clock time, "HH:MM"."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> time:
        if isinstance(value, int):
            # YAML 1.1 reads an unquoted 17:00 as the base-60 integer 1020.
            raise ValidationError('Quote the time, e.g. "17:00" (YAML reads 17:00 as a number).')
        loaded = super()._deserialize(value, attr, data, **kwargs)
        if loaded.tzinfo is not None:
            raise ValidationError("Must be a local time without an offset.")
        return loaded


class _PlainDate(fields.Date):
    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> date:
        if isinstance(value, datetime):
            raise ValidationError("Must be a date without a time.")
        return super()._deserialize(value, attr, data, **kwargs)


_T = TypeVar("_T")


def _build(cls: type[_T], data: Mapping[str, Any]) -> _T:
    try:
        return cls(**data)
    except InvalidCalendarConfig as exc:
        raise ValidationError(exc.problems) from None


class _KindSchema(Schema):
    kind = fields.Str(required=True)


class WeeklyPatternSchema(_KindSchema):
    weekdays = fields.List(_Weekday(), required=True, validate=validate.Length(min=1))

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> WeeklyPattern:
        return _build(WeeklyPattern, {"weekdays": tuple(data["weekdays"])})


class FortnightlyPatternSchema(_KindSchema):
    anchor = _PlainDate(required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> FortnightlyPattern:
        return _build(FortnightlyPattern, {"anchor": data["anchor"]})


class MonthlyPatternSchema(_KindSchema):
    weekday = _Weekday(required=True)
    nth = _NthField(required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> MonthlyPattern:
        return _build(MonthlyPattern, {"weekday": data["weekday"], "nth": data["nth"]})


class FixedMonthlyCutoffSchema(_KindSchema):
    weekday = _Weekday(required=True)
    nth = _NthField(required=True)
    at = _ClockTime(required=True, data_key="time")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> FixedMonthlyCutoff:
        data.pop("kind")
        return _build(FixedMonthlyCutoff, data)


class WorkingDaysBeforeCutoffSchema(_KindSchema):
    days = fields.Int(required=True, strict=True, validate=validate.Range(min=0))
    at = _ClockTime(required=True, data_key="time")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> WorkingDaysBeforeCutoff:
        data.pop("kind")
        return _build(WorkingDaysBeforeCutoff, data)


class _ByKind(fields.Field[Any]):
    """A mapping whose `kind` picks the schema that loads the rest of it."""

    def __init__(self, schemas: Mapping[str, type[Schema]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schemas = dict(schemas)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        kinds = ", ".join(self.schemas)
        if not isinstance(value, Mapping):
            raise ValidationError(f"Must be a mapping with a kind ({kinds}).")
        kind = value.get("kind")
        schema = self.schemas.get(kind) if isinstance(kind, str) else None
        if schema is None:
            raise ValidationError({"kind": [f"Must be one of: {kinds}."]})
        return schema().load(value)


PATTERN_SCHEMAS: dict[str, type[Schema]] = {
    "weekly": WeeklyPatternSchema,
    "fortnightly": FortnightlyPatternSchema,
    "monthly": MonthlyPatternSchema,
}
CUTOFF_SCHEMAS: dict[str, type[Schema]] = {
    "fixed_monthly": FixedMonthlyCutoffSchema,
    "working_days_before": WorkingDaysBeforeCutoffSchema,
}


def _positive_int(**kwargs: Any) -> fields.Integer:
    return fields.Int(strict=True, validate=validate.Range(min=1), **kwargs)


def _non_negative_int(**kwargs: Any) -> fields.Integer:
    return fields.Int(strict=True, validate=validate.Range(min=0), **kwargs)


class CalendarConfigSchema(Schema):
    """Loads the `scheduling` section of an area configuration into a CalendarConfig.

    Errors are keyed by field name (nested for `pattern` and `cutoff`). In the meeting model
    `max_cases` defaults to as many slots as fit in the meeting; in the coordination model it
    is required and `start_time` defaults to 17:00 (when agencies' information is due).
    """

    model = fields.Str(required=True, validate=validate.OneOf(MODELS))
    pattern = _ByKind(PATTERN_SCHEMAS, required=True)
    cutoff = _ByKind(CUTOFF_SCHEMAS, required=True)
    start_time = _ClockTime(load_default=None)
    length_minutes = _positive_int(load_default=None)
    slot_minutes = _positive_int(load_default=None)
    max_cases = _positive_int(load_default=None)
    holiday_policy = fields.Str(
        load_default="next_working_day", validate=validate.OneOf(HOLIDAY_POLICIES)
    )
    closure_dates = fields.List(_PlainDate(), load_default=list)
    min_notice_days = _non_negative_int(load_default=5)
    target_weeks = _positive_int(load_default=None)
    caselist_days_before = _non_negative_int(load_default=4)
    caselist_time = _ClockTime(load_default=DEFAULT_CASELIST_TIME)
    timezone = fields.Str(load_default="Europe/London", validate=validate.Equal("Europe/London"))

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> CalendarConfig:
        data.pop("timezone")
        missing: dict[str, list[str]] = {}
        if data["model"] == "meeting":
            for name in ("start_time", "length_minutes", "slot_minutes"):
                if data[name] is None:
                    missing[name] = ["Required for the meeting model."]
            if missing:
                raise ValidationError(missing)
            if data["max_cases"] is None:
                data["max_cases"] = data["length_minutes"] // data["slot_minutes"]
        else:
            if data["max_cases"] is None:
                raise ValidationError({"max_cases": ["Required for the coordination model."]})
            if data["start_time"] is None:
                data["start_time"] = DEFAULT_COORDINATION_CLOSE
            if data["length_minutes"] is None:
                data["length_minutes"] = 0
        data["closure_dates"] = frozenset(data["closure_dates"])
        return _build(CalendarConfig, data)


def calendar_config_from_area(area_config: Mapping[str, Any]) -> CalendarConfig:
    """Load the calendar nested under `scheduling` in an area configuration mapping."""
    if "scheduling" not in area_config:
        raise ValidationError({"scheduling": ["Missing data for required field."]})
    try:
        loaded = CalendarConfigSchema().load(area_config["scheduling"])
    except ValidationError as exc:
        raise ValidationError({"scheduling": exc.messages}) from None
    return cast(CalendarConfig, loaded)
