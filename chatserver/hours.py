"""Opening hours: a weekly timetable in an IANA time zone, and when a room opens and closes (pure).

Times are wall-clock times where the room's people live, so a room open 18:00-22:00 in
Europe/London opens at 18:00 GMT in winter and 18:00 BST in summer. Every answer is worked
out from a clock passed in (an aware `datetime`), never read here, so tests can stand at
any instant and the hub decides where "now" comes from.

Two rules settle the clock changes: a time the clock shows twice (when it goes back)
counts the first time; a time the clock skips (when it goes forward) counts from the
moment it jumps. A range that runs past midnight (`22:00-02:00`) belongs to the day it
starts on.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_WEEK = 7 * MINUTES_PER_DAY
# START-END with a hyphen, or the en dash that word processors put in.
_RANGE = re.compile(r"\s*(\S+?)\s*[-\u2013]\s*(\S+)\s*")
_TIME = re.compile(r"(\d{1,2}):(\d\d)")

#: One opening on one day: minutes after that day's midnight, start in [0, 1440), end after start. An end
#: past 1440 runs into the next day (`22:00-02:00` is (1320, 1560)); `00:00-24:00` is (0, 1440).
Span = tuple[int, int]


@dataclass(frozen=True)
class Hours:
    """A room's weekly timetable: seven days (Monday first) of opening spans, in one IANA time zone.

    Frozen and compared by value, so a reload notices when the hours changed and nothing else.
    Build one with `parse_hours` (or the rooms.yaml parser), which checks what it is given.
    """

    timezone: str
    weekly: tuple[tuple[Span, ...], ...]

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)  # cached by zoneinfo itself


# -- parsing -----------------------------------------------------------------


def iso_z(when: datetime, timespec: str = "minutes") -> str:
    """An instant as ISO 8601 in UTC with a `Z`, the form every timestamp on the wire takes."""
    return when.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def check_timezone(name: str) -> str:
    """The IANA time zone `name`, stripped; ValueError (with a likely spelling) when there is none."""
    name = name.strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        # difflib: a misspelt zone is usually one or two letters off ("Europe/Londn").
        close = difflib.get_close_matches(name, zoneinfo.available_timezones(), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(
            f"unknown time zone {name!r} (expected an IANA name such as Europe/London{hint})"
        ) from None
    return name


def parse_day(key: str) -> int:
    """0 for `mon` to 6 for `sun`; ValueError for anything else."""
    if key in DAYS:
        return DAYS.index(key)
    short = key.strip().lower()[:3]
    hint = f"; write {short!r}" if short in DAYS else ""
    raise ValueError(f"unknown day {key!r} (expected one of: {', '.join(DAYS)}{hint})")


def parse_ranges(value: str | Sequence[str]) -> tuple[Span, ...]:
    """`"09:00-12:00, 18:00-22:00"` or a list of such texts, as spans in order of their start.

    Overlaps are not checked here (see `find_overlaps`): they can involve the next day.
    """
    pieces = [value] if isinstance(value, str) else list(value)
    texts = [part.strip() for piece in pieces for part in piece.split(",")]
    if not any(texts):
        raise ValueError("no opening times given (expected ranges like 18:00-22:00; leave a closed day out)")
    spans = []
    for text in texts:
        match = _RANGE.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not a range of times (expected START-END, like 18:00-22:00)")
        start, end = _minutes(match.group(1), end=False), _minutes(match.group(2), end=True)
        if start == end:
            raise ValueError(f"{text!r} starts and ends at the same time (use 00:00-24:00 for the whole day)")
        # An end at or before the start is on the next day: the range runs past midnight.
        spans.append((start, end if end > start else end + MINUTES_PER_DAY))
    return tuple(sorted(spans))


def _minutes(text: str, *, end: bool) -> int:
    match = _TIME.fullmatch(text)
    hour, minute = (int(match.group(1)), int(match.group(2))) if match else (99, 0)
    if (hour < 24 and minute < 60) or (end and hour == 24 and minute == 0):
        return hour * 60 + minute
    last = "24:00 as an end" if end else "23:59"
    raise ValueError(f"{text!r} is not a time of day (expected HH:MM from 00:00 to {last})")


def format_span(span: Span) -> str:
    """A span as written in rooms.yaml: (1320, 1560) is `22:00-02:00`."""
    start, end = span
    end_text = "24:00" if end == MINUTES_PER_DAY else f"{end % MINUTES_PER_DAY // 60:02}:{end % 60:02}"
    return f"{start // 60:02}:{start % 60:02}-{end_text}"


def find_overlaps(weekly: Sequence[Sequence[Span]]) -> list[tuple[int, str]]:
    """Each pair of spans that overlap, as (day of the later one, plain message), the week seen as a circle.

    The later one is the span that starts inside the other, so an overnight Sunday range that runs
    into Monday morning is reported at Monday. Two ranges that merely touch (`18:00-24:00` and a
    next-day `00:00-02:00`) do not overlap: the room stays open across them.
    """
    spans = [(day, span) for day, day_spans in enumerate(weekly) for span in day_spans]
    found = []
    for i, (day_a, a) in enumerate(spans):
        for day_b, b in spans[i + 1 :]:
            start_a, start_b = day_a * MINUTES_PER_DAY + a[0], day_b * MINUTES_PER_DAY + b[0]
            if (start_b - start_a) % _WEEK < a[1] - a[0]:
                first, later = (day_a, a), (day_b, b)
            elif (start_a - start_b) % _WEEK < b[1] - b[0]:
                first, later = (day_b, b), (day_a, a)
            else:
                continue
            spill = ""
            if first[0] != later[0]:
                spill = f", which runs past midnight into {DAYS[later[0]]}"
            found.append(
                (
                    later[0],
                    f"{DAYS[later[0]]} {format_span(later[1])} overlaps "
                    f"{DAYS[first[0]]} {format_span(first[1])}{spill} (ranges must not overlap)",
                )
            )
    return found


def parse_hours(value: Mapping[str, object]) -> Hours:
    """Hours from plain data, `{timezone: ..., weekly: {mon: "18:00-22:00"}}`; ValueError on a problem.

    The rooms.yaml parser walks the same shape node by node instead, to report each problem at its line.
    """
    unknown = sorted(set(value) - {"timezone", "weekly"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in hours (expected timezone and weekly)")
    timezone, weekly = value.get("timezone"), value.get("weekly")
    if not isinstance(timezone, str):
        raise ValueError(f"hours need a 'timezone', an IANA name such as Europe/London, got {timezone!r}")
    if not isinstance(weekly, Mapping) or not weekly:
        raise ValueError(f"hours need 'weekly': days like mon: 18:00-22:00, got {weekly!r}")
    days: list[tuple[Span, ...]] = [()] * 7
    for key, ranges in weekly.items():
        if not isinstance(ranges, str) and not (
            isinstance(ranges, list) and all(isinstance(r, str) for r in ranges)
        ):
            raise ValueError(f"the hours of {key!r} must be a text like 18:00-22:00, got {ranges!r}")
        day = parse_day(str(key))
        days[day] = parse_ranges(ranges)
    overlaps = find_overlaps(days)
    if overlaps:
        raise ValueError(overlaps[0][1])
    return Hours(check_timezone(timezone), tuple(days))


# -- questions about a moment ---------------------------------------------------


def is_open(hours: Hours | None, now: datetime) -> bool:
    """Whether the room is within its opening hours at `now` (a room without hours always is)."""
    if hours is None:
        return True
    return any(opens <= now < closes for opens, closes in _periods(hours, now))


def next_opening(hours: Hours | None, now: datetime) -> datetime | None:
    """The first moment after `now` at which the room opens, in UTC; None if it never closes."""
    if hours is None:
        return None
    return next((opens for opens, _ in _periods(hours, now) if opens > now), None)


def next_closing(hours: Hours | None, now: datetime) -> datetime | None:
    """The first moment after `now` at which the room closes (the end of this opening if open), in UTC.

    None when the room never closes: no hours, or every minute of the week covered.
    """
    if hours is None:
        return None
    for opens, closes in _periods(hours, now):
        if closes > now:
            # A period longer than a week is the whole window: the timetable has no gap.
            return None if closes - opens > timedelta(days=7) else closes
    return None


def _periods(hours: Hours, now: datetime) -> list[tuple[datetime, datetime]]:
    """Opening periods in UTC from eight days before `now` to eight after, touching ones joined.

    Eight days each way always holds the period in progress and the next one, whatever the
    timetable (a span is at most a day long, a gap at most a week).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime (with a time zone), got {now!r}")
    zone = hours.zone
    today = now.astimezone(zone).date()
    raw = sorted(
        (_instant(day, start, zone), _instant(day, end, zone))
        for day in _days(today - timedelta(days=8), today + timedelta(days=8))
        for start, end in hours.weekly[day.weekday()]
    )
    joined: list[tuple[datetime, datetime]] = []
    for opens, closes in raw:
        if joined and opens <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(closes, joined[-1][1]))
        elif opens < closes:  # a span wholly inside a skipped hour never opens
            joined.append((opens, closes))
    return joined


def _days(first: date, last: date) -> Iterable[date]:
    return (first + timedelta(days=n) for n in range((last - first).days + 1))


def _instant(day: date, minute: int, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC moment the clock in `zone` shows `minute` minutes after midnight of `day`."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    # fold=0: a time shown twice is taken the first time it is shown.
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # The clock skips `wall`. fold=0 then reads it with the offset from before the jump, which lands
    # after the jump by however far `wall` is into the gap; fold=1 lands before the jump. The moment
    # of the jump lies between, and is found by halving (to the second, as transitions are).
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) < wall:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)
