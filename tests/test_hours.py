"""Opening hours (pure): parsing, and open/next opening/next closing at fixed instants, DST weeks included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chatserver.hours import (
    Hours,
    check_timezone,
    find_overlaps,
    format_span,
    is_open,
    next_closing,
    next_opening,
    parse_day,
    parse_hours,
    parse_ranges,
)


def utc(text: str) -> datetime:
    """An aware UTC instant from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hours(timezone: str, **weekly: str | list[str]) -> Hours:
    return parse_hours({"timezone": timezone, "weekly": weekly})


ALL_WEEK = {day: "00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

# -- parsing ----------------------------------------------------------------------------------------


def test_the_issue_s_shape_is_accepted_as_written():
    """The issue's `{timezone: Europe/London, weekly: {mon: ..., tue: ...}}` parses as written."""
    parsed = parse_hours(
        {"timezone": "Europe/London", "weekly": {"mon": "18:00-22:00", "tue": "18:00-22:00"}}
    )
    assert parsed == Hours("Europe/London", (((1080, 1320),), ((1080, 1320),), (), (), (), (), ()))
    assert parsed.zone == ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("value", "spans"),
    [
        ("18:00-22:00", ((1080, 1320),)),
        ("18:00 - 22:00", ((1080, 1320),)),
        ("18:00\u201322:00", ((1080, 1320),)),  # an en dash, as word processors write it
        ("9:30-12:00", ((570, 720),)),
        ("18:00-22:00, 09:00-12:00", ((540, 720), (1080, 1320))),  # in order of their start
        (["09:00-12:00", "18:00-22:00"], ((540, 720), (1080, 1320))),
        ("22:00-02:00", ((1320, 1560),)),  # past midnight: ends at 02:00 the next day
        ("22:00-00:00", ((1320, 1440),)),
        ("22:00-24:00", ((1320, 1440),)),
        ("00:00-24:00", ((0, 1440),)),
        ("00:01-00:00", ((1, 1440),)),
    ],
)
def test_ranges_parse_to_minutes_after_midnight(value, spans):
    """One range, several (comma-separated or a list), overnight and whole-day ranges."""
    assert parse_ranges(value) == spans


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("25:00-26:00", ["'25:00'", "not a time of day"]),
        ("18:60-19:00", ["'18:60'", "not a time of day"]),
        ("24:00-02:00", ["'24:00'", "23:59"]),
        ("18:00-24:30", ["'24:30'"]),
        ("18:00", ["'18:00'", "not a range", "18:00-22:00"]),
        ("x", ["'x'", "not a range"]),
        ("six-ten", ["'six'", "not a time of day"]),
        ("18:00-18:00", ["same time", "00:00-24:00"]),
        ("", ["no opening times"]),
        ([], ["no opening times"]),
        ("09:00-12:00,", ["not a range"]),
    ],
)
def test_malformed_ranges_say_what_was_expected(value, words):
    """A bad range is a ValueError naming what arrived and what was expected."""
    with pytest.raises(ValueError) as err:
        parse_ranges(value)
    assert all(word in str(err.value) for word in words), err.value


def test_days_are_mon_to_sun():
    """Day keys are mon..sun; a full name is answered with its short form."""
    assert [parse_day(d) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")] == list(range(7))
    with pytest.raises(ValueError, match="unknown day 'monday'.*write 'mon'"):
        parse_day("monday")
    with pytest.raises(ValueError, match="unknown day 'weekends'"):
        parse_day("weekends")


def test_time_zones_are_iana_names():
    """A known zone passes; a misspelt one is refused with the likely name; paths are not zones."""
    assert check_timezone(" America/New_York ") == "America/New_York"
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Londn'.*did you mean Europe/London"):
        check_timezone("Europe/Londn")
    for bad in ("", "/etc/passwd", "../zoneinfo/UTC", "Mars/Olympus_Mons", "GMT+1:00"):
        with pytest.raises(ValueError, match="unknown time zone"):
            check_timezone(bad)


def test_overlaps_are_found_on_a_day_and_across_midnight():
    """Overlaps on one day, an overnight range running into the next morning, and Sunday into Monday."""
    week = [(), (), (), (), (), (), ()]
    same_day = [*week]
    same_day[4] = parse_ranges("09:00-12:00, 11:00-13:00")
    assert find_overlaps(same_day) == [
        (4, "fri 11:00-13:00 overlaps fri 09:00-12:00 (ranges must not overlap)")
    ]
    overnight = [*week]
    overnight[0], overnight[1] = parse_ranges("22:00-02:00"), parse_ranges("01:00-05:00")
    [(day, message)] = find_overlaps(overnight)
    assert (
        day == 1 and "tue 01:00-05:00 overlaps mon 22:00-02:00, which runs past midnight into tue" in message
    )
    wrap = [*week]
    wrap[6], wrap[0] = parse_ranges("23:00-01:00"), parse_ranges("00:30-02:00")
    assert [day for day, _ in find_overlaps(wrap)] == [0]


def test_touching_ranges_do_not_overlap():
    """18:00-24:00 then 00:00-02:00 the next day, or 09:00-12:00 and 12:00-14:00, are fine."""
    week = [parse_ranges("18:00-24:00"), parse_ranges("00:00-02:00, 02:00-04:00"), (), (), (), (), ()]
    assert find_overlaps(week) == []
    assert find_overlaps([parse_ranges("00:00-24:00")] * 7) == []


def test_parse_hours_raises_on_the_problems_of_plain_data():
    """Unknown keys, a missing timezone or weekly, bad days, bad ranges and overlaps are ValueErrors."""
    cases = [
        ({"timezone": "UTC", "weekly": {"mon": "18:00-22:00"}, "tz": "x"}, "unknown key 'tz'"),
        ({"weekly": {"mon": "18:00-22:00"}}, "need a 'timezone'"),
        ({"timezone": "UTC"}, "need 'weekly'"),
        ({"timezone": "UTC", "weekly": {}}, "need 'weekly'"),
        ({"timezone": "UTC", "weekly": {"mon": 1080}}, "must be a text"),
        ({"timezone": "UTC", "weekly": {"thursday": "x"}}, "unknown day 'thursday'"),
        ({"timezone": "UTC", "weekly": {"sun": "22:00-02:00", "mon": "01:00-03:00"}}, "overlaps"),
        ({"timezone": "Nowhere/Town", "weekly": {"mon": "18:00-22:00"}}, "unknown time zone"),
    ]
    for value, words in cases:
        with pytest.raises(ValueError, match=words):
            parse_hours(value)


def test_spans_print_as_written():
    """Messages show spans in rooms.yaml's own notation."""
    assert [format_span(s) for s in ((1320, 1560), (0, 1440), (570, 720))] == [
        "22:00-02:00",
        "00:00-24:00",
        "09:30-12:00",
    ]


# -- open, next opening, next closing ---------------------------------------------------------------

# 2026: London changes on Sun 29 March (01:00 GMT -> 02:00 BST) and Sun 25 October (02:00 BST -> 01:00
# GMT); New York on Sun 8 March (02:00 EST -> 03:00 EDT) and Sun 1 November (02:00 EDT -> 01:00 EST).
LONDON = hours("Europe/London", mon="18:00-22:00", tue="18:00-22:00")
NEW_YORK = hours("America/New_York", mon="09:00-17:00", wed="09:00-12:00, 18:00-21:00", fri="09:00-17:00")


@pytest.mark.parametrize(
    ("now", "open_", "opening", "closing"),
    [
        # Winter: London is on UTC.
        ("2026-01-12 17:59", False, "2026-01-12 18:00", "2026-01-12 22:00"),
        ("2026-01-12 18:00", True, "2026-01-13 18:00", "2026-01-12 22:00"),  # opens on the minute
        ("2026-01-12 21:59", True, "2026-01-13 18:00", "2026-01-12 22:00"),
        ("2026-01-12 22:00", False, "2026-01-13 18:00", "2026-01-13 22:00"),  # and closes on it
        ("2026-01-14 12:00", False, "2026-01-19 18:00", "2026-01-19 22:00"),  # Wednesday: next Monday
        # Summer: BST, an hour ahead of UTC.
        ("2026-07-06 16:30", False, "2026-07-06 17:00", "2026-07-06 21:00"),
        ("2026-07-07 20:59", True, "2026-07-13 17:00", "2026-07-07 21:00"),
    ],
)
def test_london_at_fixed_instants(now, open_, opening, closing):
    """Monday and Tuesday 18:00-22:00 UK time, in winter (GMT) and summer (BST)."""
    assert is_open(LONDON, utc(now)) is open_
    assert next_opening(LONDON, utc(now)) == utc(opening)
    assert next_closing(LONDON, utc(now)) == utc(closing)


@pytest.mark.parametrize(
    ("now", "open_", "opening", "closing"),
    [
        # Winter: EST, UTC-5.
        ("2026-01-12 13:59", False, "2026-01-12 14:00", "2026-01-12 22:00"),
        ("2026-01-12 14:00", True, "2026-01-14 14:00", "2026-01-12 22:00"),
        ("2026-01-14 17:30", False, "2026-01-14 23:00", "2026-01-15 02:00"),  # Wednesday's lunch break
        ("2026-01-15 01:30", True, "2026-01-16 14:00", "2026-01-15 02:00"),  # 20:30 on Wednesday there
        ("2026-01-16 22:00", False, "2026-01-19 14:00", "2026-01-19 22:00"),  # Friday 17:00: the weekend
        # Summer: EDT, UTC-4.
        ("2026-07-06 13:30", True, "2026-07-08 13:00", "2026-07-06 21:00"),
    ],
)
def test_new_york_at_fixed_instants(now, open_, opening, closing):
    """Weekday hours in New York, two ranges on Wednesday, in winter (EST) and summer (EDT)."""
    assert is_open(NEW_YORK, utc(now)) is open_
    assert next_opening(NEW_YORK, utc(now)) == utc(opening)
    assert next_closing(NEW_YORK, utc(now)) == utc(closing)


def test_the_same_instant_differs_by_time_zone():
    """Between the US and UK clock changes, 13:30 UTC is 09:30 in New York (open) and 13:30 in London."""
    now = utc("2026-03-16 13:30")  # a Monday: EDT since 8 March, GMT until 29 March
    assert is_open(NEW_YORK, now) and not is_open(LONDON, now)
    assert next_opening(LONDON, now) == utc("2026-03-16 18:00")
    assert next_closing(NEW_YORK, now) == utc("2026-03-16 21:00")


def test_answers_are_aware_utc_whatever_zone_now_is_in():
    """`now` may be in any zone; the answers are the same instants, in UTC."""
    tokyo = utc("2026-01-12 17:00").astimezone(ZoneInfo("Asia/Tokyo"))
    opening, closing = next_opening(LONDON, tokyo), next_closing(LONDON, tokyo)
    assert opening == utc("2026-01-12 18:00") and opening is not None and opening.tzinfo is UTC
    assert closing == utc("2026-01-12 22:00") and closing is not None and closing.tzinfo is UTC


def test_a_naive_now_is_refused():
    """A clock without a zone is ambiguous, so it is an error, not a guess."""
    with pytest.raises(ValueError, match="aware"):
        is_open(LONDON, datetime(2026, 1, 12, 18, 30))


def test_no_hours_means_always_open():
    """A room without hours is open, never opens, never closes."""
    now = utc("2026-01-12 03:00")
    assert is_open(None, now) and next_opening(None, now) is None and next_closing(None, now) is None


def test_a_timetable_without_a_gap_never_closes():
    """00:00-24:00 every day: open at any instant, DST nights included; no next opening or closing."""
    always = hours("Europe/London", **ALL_WEEK)
    for now in (
        "2026-03-29 00:30",
        "2026-03-29 01:30",
        "2026-10-25 00:30",
        "2026-10-25 01:30",
        "2026-06-01 12:00",
    ):
        assert is_open(always, utc(now)), now
        assert next_opening(always, utc(now)) is None and next_closing(always, utc(now)) is None


def test_touching_ranges_are_one_opening():
    """Monday 18:00-24:00 and Tuesday 00:00-02:00: closes at 02:00, no closing and reopening at midnight."""
    late = hours("UTC", mon="18:00-24:00", tue="00:00-02:00")
    assert next_closing(late, utc("2026-01-12 20:00")) == utc("2026-01-13 02:00")
    assert next_opening(late, utc("2026-01-12 20:00")) == utc("2026-01-19 18:00")
    assert is_open(late, utc("2026-01-13 00:00"))


def test_an_overnight_range_belongs_to_the_day_it_starts():
    """Sunday 22:00-02:00 is open in the small hours of Monday, and shut on Sunday's own small hours."""
    night = hours("Europe/London", sun="22:00-02:00")
    assert is_open(night, utc("2026-01-19 01:59"))  # Monday 01:59
    assert not is_open(night, utc("2026-01-18 01:00"))  # Sunday 01:00: Saturday has no hours
    assert next_closing(night, utc("2026-01-18 23:00")) == utc("2026-01-19 02:00")
    assert next_opening(night, utc("2026-01-19 02:00")) == utc("2026-01-25 22:00")


# -- weeks with a clock change ------------------------------------------------------------------------


def test_london_spring_forward_week():
    """Week of 23 March 2026: Monday opens 18:00 GMT, the next Monday 18:00 BST; the short night is short."""
    room = hours("Europe/London", mon="18:00-22:00", sat="22:00-02:00")
    assert next_opening(room, utc("2026-03-23 12:00")) == utc("2026-03-23 18:00")
    assert next_opening(room, utc("2026-03-24 12:00")) == utc("2026-03-28 22:00")  # Saturday 22:00 GMT
    # To Sunday 02:00 BST: the clock skips 01:00-02:00, so the night lasts three hours.
    assert next_closing(room, utc("2026-03-28 22:30")) == utc("2026-03-29 01:00")
    assert not is_open(room, utc("2026-03-29 01:30"))
    assert next_opening(room, utc("2026-03-29 01:00")) == utc("2026-03-30 17:00")  # Monday, now BST
    assert next_closing(room, utc("2026-03-29 01:00")) == utc("2026-03-30 21:00")


def test_a_skipped_time_counts_from_the_jump():
    """29 March 01:30 never shows in London: a range from it opens when the clock jumps to 02:00 BST."""
    room = hours("Europe/London", sun="01:30-03:00")
    assert next_opening(room, utc("2026-03-28 12:00")) == utc("2026-03-29 01:00")
    assert not is_open(room, utc("2026-03-29 00:59")) and is_open(room, utc("2026-03-29 01:00"))
    assert next_closing(room, utc("2026-03-29 01:00")) == utc("2026-03-29 02:00")  # 03:00 BST


def test_london_fall_back_week():
    """25 October 2026: the long night is long; Monday opens 18:00 GMT again."""
    room = hours("Europe/London", mon="18:00-22:00", sat="22:00-02:00")
    assert next_opening(room, utc("2026-10-19 12:00")) == utc("2026-10-19 17:00")  # Monday, BST
    assert next_opening(room, utc("2026-10-20 12:00")) == utc("2026-10-24 21:00")  # Saturday 22:00 BST
    # To Sunday 02:00 GMT: the clock shows 01:00-02:00 twice, so the night lasts five hours.
    assert next_closing(room, utc("2026-10-24 21:30")) == utc("2026-10-25 02:00")
    assert is_open(room, utc("2026-10-25 01:30"))
    assert next_opening(room, utc("2026-10-25 02:00")) == utc("2026-10-26 18:00")  # Monday, GMT


def test_a_time_shown_twice_counts_the_first_time():
    """Sunday 25 October 01:30 shows twice in London: a range opens, or ends, at the first (BST) one."""
    opens_twice = hours("Europe/London", sun="01:30-03:00")
    assert next_opening(opens_twice, utc("2026-10-24 12:00")) == utc("2026-10-25 00:30")
    assert next_closing(opens_twice, utc("2026-10-25 00:30")) == utc("2026-10-25 03:00")  # 03:00 GMT
    ends_twice = hours("Europe/London", sun="00:30-01:30")
    assert next_opening(ends_twice, utc("2026-10-24 12:00")) == utc("2026-10-24 23:30")
    assert next_closing(ends_twice, utc("2026-10-24 23:30")) == utc("2026-10-25 00:30")


def test_new_york_spring_forward_week():
    """Week of 2 March 2026: Friday opens 09:00 EST (14:00 UTC), Monday 09:00 EDT (13:00 UTC)."""
    room = hours(
        "America/New_York", mon="09:00-17:00", fri="09:00-17:00", sat="22:00-02:00", sun="02:30-04:00"
    )
    assert next_opening(room, utc("2026-03-06 12:00")) == utc("2026-03-06 14:00")
    assert next_closing(room, utc("2026-03-06 15:00")) == utc("2026-03-06 22:00")
    assert next_opening(room, utc("2026-03-06 23:00")) == utc("2026-03-08 03:00")  # Saturday 22:00 EST
    # Saturday's 02:00 end and Sunday's 02:30 start are both skipped: both are the jump to 03:00 EDT
    # (07:00 UTC), so the night runs on without a gap until 04:00 EDT.
    assert is_open(room, utc("2026-03-08 07:00"))
    assert next_closing(room, utc("2026-03-08 04:00")) == utc("2026-03-08 08:00")
    assert next_opening(room, utc("2026-03-08 09:00")) == utc("2026-03-09 13:00")


def test_new_york_fall_back_week():
    """1 November 2026: Saturday 22:00 EDT to Sunday 03:00 EST is six hours; Monday opens 09:00 EST."""
    room = hours("America/New_York", mon="09:00-17:00", sat="22:00-03:00")
    assert next_opening(room, utc("2026-10-31 12:00")) == utc("2026-11-01 02:00")
    assert next_closing(room, utc("2026-11-01 02:00")) == utc("2026-11-01 08:00")
    assert next_opening(room, utc("2026-11-01 08:00")) == utc("2026-11-02 14:00")


@pytest.mark.parametrize(
    ("room", "start"),
    [
        (hours("Europe/London", mon="18:00-22:00", sat="22:00-01:00", sun="01:30-03:00"), "2026-03-25 00:00"),
        (hours("Europe/London", mon="18:00-22:00", sat="22:00-01:00", sun="01:30-03:00"), "2026-10-21 00:00"),
        (
            hours("America/New_York", wed="09:00-12:00, 18:00-21:00", sat="22:00-02:00", sun="02:30-04:00"),
            "2026-03-04 00:00",
        ),
        (hours("America/New_York", wed="09:00-12:00, 18:00-21:00", sat="22:00-03:00"), "2026-10-28 00:00"),
    ],
)
def test_answers_agree_with_each_other_through_a_dst_week(room, start):
    """Every 17 minutes for a week: the next opening/closing is after now, and the room flips right there."""
    second = timedelta(seconds=1)
    now = utc(start)
    while now < utc(start) + timedelta(days=7):
        if is_open(room, now):
            closing = next_closing(room, now)
            assert closing is not None and closing > now
            assert is_open(room, closing - second) and not is_open(room, closing), now
        else:
            opening = next_opening(room, now)
            assert opening is not None and opening > now
            assert not is_open(room, opening - second) and is_open(room, opening), now
        now += timedelta(minutes=17)
