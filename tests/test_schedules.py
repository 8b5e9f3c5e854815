"""`every(...)` and `cron(...)`: pure functions of an instant, tested without any clock."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskrunner import ConfigurationError, Schedule, cron, every

PARIS = ZoneInfo("Europe/Paris")

# Europe/Paris in 2024: clocks jump 02:00 -> 03:00 on March 31 (01:00 UTC) and fall back
# 03:00 -> 02:00 on October 27 (01:00 UTC).
SPRING_FORWARD = date(2024, 3, 31)
FALL_BACK = date(2024, 10, 27)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, fold: int = 0
) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS, fold=fold).timestamp()


def local(instant: float, zone: ZoneInfo = PARIS) -> datetime:
    return datetime.fromtimestamp(instant, zone)


def ticks(schedule: Schedule, start: float, end: float) -> Iterator[float]:
    """The ticks in (start, end), by chaining next_after as the scheduler does."""
    tick = schedule.next_after(start)
    while tick < end:
        yield tick
        tick = schedule.next_after(tick)


# -- every ----------------------------------------------------------------------------------


def test_every_hour_ticks_on_the_hour() -> None:
    hourly = every(hours=1)
    assert hourly.next_after(utc(2024, 5, 1, 10, 17, 23)) == utc(2024, 5, 1, 11)
    assert hourly.next_after(utc(2024, 5, 1, 10, 59, 59)) == utc(2024, 5, 1, 11)
    assert hourly.next_after(utc(2024, 5, 1, 11, 0, 1)) == utc(2024, 5, 1, 12)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2024, 5, 1, 10, 0, 1), utc(2024, 5, 1, 10, 5)),
        (utc(2024, 5, 1, 10, 3, 0), utc(2024, 5, 1, 10, 5)),
        (utc(2024, 5, 1, 10, 4, 59) + 0.999, utc(2024, 5, 1, 10, 5)),
        (utc(2024, 5, 1, 10, 57, 30), utc(2024, 5, 1, 11, 0)),
        (utc(2024, 12, 31, 23, 58), utc(2025, 1, 1)),
    ],
)
def test_every_five_minutes_ticks_on_multiples_of_five(instant: float, expected: float) -> None:
    tick = every(minutes=5).next_after(instant)
    assert tick == expected
    assert local(tick, ZoneInfo("UTC")).minute % 5 == 0
    assert local(tick, ZoneInfo("UTC")).second == 0


def test_every_day_ticks_at_utc_midnight_whatever_the_local_zone() -> None:
    tick = every(days=1).next_after(paris(2024, 7, 14, 1, 30))  # 23:30 UTC on July 13
    assert tick == utc(2024, 7, 14)
    assert local(tick) == datetime(2024, 7, 14, 2, tzinfo=PARIS)


def test_every_grid_is_shared_by_all_callers() -> None:
    """Workers asking at different moments of one interval agree on the tick."""
    schedule = every(minutes=10)
    asked_at = [utc(2024, 2, 29, 13, 50, 1), utc(2024, 2, 29, 13, 55), utc(2024, 2, 29, 13, 59)]
    assert {schedule.next_after(t) for t in asked_at} == {utc(2024, 2, 29, 14)}


def test_every_units_add_up() -> None:
    schedule = every(hours=1, minutes=30, seconds=15)
    assert schedule.interval == 5415
    assert schedule.next_after(0) == 5415
    assert every(days=2).next_after(0) == 2 * 86400


@pytest.mark.parametrize("interval", [1, 7, 60, 300, 3600, 86400])
def test_every_instant_on_a_tick_gives_the_next_tick(interval: int) -> None:
    schedule = every(seconds=interval)
    on_tick = interval * (1_700_000_000 // interval)
    assert schedule.next_after(on_tick) == on_tick + interval
    assert schedule.next_after(float(on_tick)) == on_tick + interval


def test_every_chained_ticks_are_exactly_one_interval_apart() -> None:
    schedule = every(minutes=5)
    found = list(ticks(schedule, utc(2024, 3, 30, 23, 3), utc(2024, 3, 31, 5)))
    assert len(found) == 71
    assert all(b - a == 300 for a, b in pairwise(found))


@settings(max_examples=300, deadline=None)
@given(
    interval=st.sampled_from([1, 2, 5, 30, 60, 300, 900, 3600, 86400, 7 * 86400]),
    instant=st.floats(min_value=0, max_value=4e9, allow_nan=False),
)
def test_every_next_tick_is_the_first_grid_point_strictly_after(
    interval: int, instant: float
) -> None:
    tick = every(seconds=interval).next_after(instant)
    assert tick > instant
    assert tick - interval <= instant  # no grid point was skipped
    assert tick % interval == 0


@settings(max_examples=300, deadline=None)
@given(
    interval=st.sampled_from([1, 60, 300, 3600, 86400]),
    k=st.integers(min_value=1, max_value=4_000_000_000 // 86400),
)
def test_every_instant_just_before_a_tick_gives_that_tick(interval: int, k: int) -> None:
    tick = float(k * 86400)  # a multiple of every sampled interval
    schedule = every(seconds=interval)
    assert schedule.next_after(math.nextafter(tick, -math.inf)) == tick
    assert schedule.next_after(tick) == tick + interval


def test_every_fractional_interval_does_not_skip_a_tick() -> None:
    schedule = every(seconds=1.2)
    tick = 1439410801 * 1.2  # == 1727292961.2, a grid point
    instant = math.nextafter(tick, -math.inf)  # 1727292961.1999998
    assert schedule.next_after(instant) == tick


def test_every_one_second_is_the_smallest_interval() -> None:
    assert every(seconds=1).next_after(10.5) == 11


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"seconds": 0},
        {"seconds": 0.5},
        {"seconds": 0.999},
        {"seconds": -1},
        {"minutes": -5},
        {"hours": -1},
        {"days": -1},
        {"hours": 1, "minutes": -61},
    ],
)
def test_every_rejects_intervals_under_one_second(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="at least 1 second"):
        every(**kwargs)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_every_rejects_non_finite_intervals(value: float) -> None:
    with pytest.raises(ConfigurationError):
        every(seconds=value)


def test_every_describe_names_the_interval() -> None:
    five = every(minutes=5).describe()
    hour = every(hours=1).describe()
    assert five.startswith("every")
    assert any(s in five for s in ("0:05:00", "5 min", "5m", "300"))
    assert any(s in hour for s in ("1:00:00", "1 hour", "1h", "3600"))
    assert len({five, hour, every(days=1).describe()}) == 3


# -- cron: time zones -----------------------------------------------------------------------


def test_cron_defaults_to_utc() -> None:
    assert cron("0 9 * * mon").next_after(utc(2024, 1, 10)) == utc(2024, 1, 15, 9)


@pytest.mark.parametrize(
    ("instant", "expected_utc"),
    [
        # winter, UTC+1: Monday 09:00 Paris is 08:00 UTC
        (utc(2024, 1, 10, 12), utc(2024, 1, 15, 8)),
        # summer, UTC+2: Monday 09:00 Paris is 07:00 UTC
        (utc(2024, 7, 10, 12), utc(2024, 7, 15, 7)),
        # Monday 08:59:59.5 Paris: the same morning
        (paris(2024, 7, 15, 8, 59, 59) + 0.5, utc(2024, 7, 15, 7)),
        # exactly on the tick: the next Monday
        (paris(2024, 7, 15, 9), utc(2024, 7, 22, 7)),
        # just after the tick: the next Monday
        (paris(2024, 7, 15, 9) + 0.001, utc(2024, 7, 22, 7)),
    ],
)
def test_cron_monday_nine_in_paris(instant: float, expected_utc: float) -> None:
    tick = cron("0 9 * * mon", tz="Europe/Paris").next_after(instant)
    assert tick == expected_utc
    when = local(tick)
    assert (when.weekday(), when.hour, when.minute, when.second) == (0, 9, 0, 0)


def test_cron_weekly_keeps_local_time_across_both_dst_changes() -> None:
    schedule = cron("0 9 * * mon", tz="Europe/Paris")
    mondays = list(ticks(schedule, utc(2024, 1, 1), utc(2025, 1, 1)))
    assert len(mondays) == 53  # 2024 starts and ends on a Monday
    assert all(
        b - a in (7 * 86400 - 3600, 7 * 86400, 7 * 86400 + 3600) for a, b in pairwise(mondays)
    )
    assert {(local(t).weekday(), local(t).hour, local(t).minute) for t in mondays} == {(0, 9, 0)}
    offsets = Counter(local(t).utcoffset() for t in mondays)
    assert set(offsets) == {timedelta(hours=1), timedelta(hours=2)}


def test_cron_same_expression_differs_by_zone() -> None:
    instant = utc(2024, 6, 1)
    in_paris = cron("0 9 * * *", tz="Europe/Paris").next_after(instant)
    in_new_york = cron("0 9 * * *", tz="America/New_York").next_after(instant)
    assert in_paris == utc(2024, 6, 1, 7)
    assert in_new_york == utc(2024, 6, 1, 13)


# -- cron: daylight-saving changes ----------------------------------------------------------


def test_cron_daily_in_the_skipped_hour_runs_once_at_the_jump() -> None:
    schedule = cron("30 2 * * *", tz="Europe/Paris")
    found = list(ticks(schedule, paris(2024, 3, 30, 12), paris(2024, 4, 1, 12)))
    assert found == [
        utc(2024, 3, 31, 1),  # 02:30 does not exist on March 31: runs at 03:00+02:00
        paris(2024, 4, 1, 2, 30),
    ]
    assert local(found[0]).date() == SPRING_FORWARD
    assert local(found[0]).isoformat() == "2024-03-31T03:00:00+02:00"
    # asked just before the jump, or at it: still one run that day
    assert schedule.next_after(paris(2024, 3, 31, 1, 59, 59)) == utc(2024, 3, 31, 1)
    assert schedule.next_after(utc(2024, 3, 31, 1)) == paris(2024, 4, 1, 2, 30)


def test_cron_daily_in_the_repeated_hour_runs_once_on_fall_back() -> None:
    schedule = cron("30 2 * * *", tz="Europe/Paris")
    found = list(ticks(schedule, paris(2024, 10, 26, 12), paris(2024, 10, 28, 12)))
    assert len(found) == 2
    assert local(found[0]).date() == FALL_BACK
    assert (local(found[0]).hour, local(found[0]).minute) == (2, 30)
    assert local(found[1]).isoformat() == "2024-10-28T02:30:00+01:00"
    # asked between the two 02:30s, or inside the second 02:xx hour: no second run that day
    for asked in (utc(2024, 10, 27, 0, 45), utc(2024, 10, 27, 1), utc(2024, 10, 27, 1, 15)):
        assert schedule.next_after(asked) == found[1]


def test_cron_every_thirty_minutes_fires_in_both_repeated_hours() -> None:
    schedule = cron("*/30 * * * *", tz="Europe/Paris")
    found = list(ticks(schedule, utc(2024, 10, 26, 22), utc(2024, 10, 27, 3)))
    in_two_oclock = [t for t in found if local(t).date() == FALL_BACK and local(t).hour == 2]
    assert in_two_oclock == [
        utc(2024, 10, 27, 0, 0),  # 02:00+02:00
        utc(2024, 10, 27, 0, 30),  # 02:30+02:00
        utc(2024, 10, 27, 1, 0),  # 02:00+01:00
        utc(2024, 10, 27, 1, 30),  # 02:30+01:00
    ]
    assert [local(t).utcoffset() for t in in_two_oclock] == [timedelta(hours=2)] * 2 + [
        timedelta(hours=1)
    ] * 2
    # a tick every half hour of real time, none skipped, none doubled
    assert all(b - a == 1800 for a, b in pairwise(found))


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        (paris(2024, 10, 27, 2, 10, fold=0), utc(2024, 10, 27, 0, 30)),
        (paris(2024, 10, 27, 2, 30, fold=0), utc(2024, 10, 27, 1, 0)),
        (paris(2024, 10, 27, 2, 50, fold=0), utc(2024, 10, 27, 1, 0)),
        (paris(2024, 10, 27, 2, 0, fold=1), utc(2024, 10, 27, 1, 30)),
        (paris(2024, 10, 27, 2, 10, fold=1), utc(2024, 10, 27, 1, 30)),
        (paris(2024, 10, 27, 2, 40, fold=1), utc(2024, 10, 27, 2, 0)),
    ],
)
def test_cron_asked_inside_the_repeated_hour(asked: float, expected: float) -> None:
    """Starting from an instant in either 02:xx hour neither skips nor repeats a tick."""
    assert cron("*/30 * * * *", tz="Europe/Paris").next_after(asked) == expected


def test_cron_every_thirty_minutes_across_spring_forward() -> None:
    schedule = cron("*/30 * * * *", tz="Europe/Paris")
    found = list(ticks(schedule, utc(2024, 3, 30, 23), utc(2024, 3, 31, 3)))
    assert all(b - a == 1800 for a, b in pairwise(found))
    assert [local(t).strftime("%H:%M%z") for t in found[:6]] == [
        "00:30+0100",
        "01:00+0100",
        "01:30+0100",
        "03:00+0200",
        "03:30+0200",
        "04:00+0200",
    ]


# -- cron: Vixie cron's rule for fixed-hour and hourly expressions ----------------------------
#
# In 2024, Europe/Paris skips 02:00-02:59 on March 31 and repeats it on October 27;
# America/New_York skips 02:00-02:59 on March 10 and repeats 01:00-01:59 on November 3.
CHANGES = {
    ("Europe/Paris", "spring"): date(2024, 3, 31),
    ("Europe/Paris", "fall"): date(2024, 10, 27),
    ("America/New_York", "spring"): date(2024, 3, 10),
    ("America/New_York", "fall"): date(2024, 11, 3),
}


def ticks_on(expression: str, tz: str, day: date) -> list[str]:
    """The ticks whose local date is `day`, as local times with their UTC offset."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, datetime.min.time(), zone).timestamp() - 1
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).timestamp()
    return [local(t, zone).strftime("%H:%M%z") for t in ticks(cron(expression, tz=tz), start, end)]


@pytest.mark.parametrize(
    ("tz", "change", "expression", "expected"),
    [
        # the repeated hour: once, in its first pass
        ("Europe/Paris", "fall", "30 2 * * *", ["02:30+0200"]),
        ("Europe/Paris", "fall", "*/20 2 * * *", ["02:00+0200", "02:20+0200", "02:40+0200"]),
        ("Europe/Paris", "fall", "0 1 * * *", ["01:00+0200"]),
        ("America/New_York", "fall", "30 1 * * *", ["01:30-0400"]),
        ("America/New_York", "fall", "*/20 1 * * *", ["01:00-0400", "01:20-0400", "01:40-0400"]),
        ("America/New_York", "fall", "0 1 * * *", ["01:00-0400"]),
        ("America/New_York", "fall", "*/20 2 * * *", ["02:00-0500", "02:20-0500", "02:40-0500"]),
        # the skipped hour: once, at the jump
        ("Europe/Paris", "spring", "30 2 * * *", ["03:00+0200"]),
        ("Europe/Paris", "spring", "*/20 2 * * *", ["03:00+0200"]),
        ("Europe/Paris", "spring", "* 2 * * *", ["03:00+0200"]),
        ("Europe/Paris", "spring", "0 1 * * *", ["01:00+0100"]),
        ("America/New_York", "spring", "30 2 * * *", ["03:00-0400"]),
        ("America/New_York", "spring", "*/20 2 * * *", ["03:00-0400"]),
        ("America/New_York", "spring", "0 1 * * *", ["01:00-0500"]),
        # a skipped time whose jump is also a matching time: one run, not two
        ("Europe/Paris", "spring", "0 1-3 * * *", ["01:00+0100", "03:00+0200"]),
        # any hour field that does not cover all 24 hours is a fixed hour
        (
            "Europe/Paris",
            "fall",
            "0 */2 * * *",
            ["00:00+0200", "02:00+0200"] + [f"{h:02}:00+0100" for h in range(4, 24, 2)],
        ),
        (
            "Europe/Paris",
            "spring",
            "0 */2 * * *",
            ["00:00+0100", "03:00+0200"] + [f"{h:02}:00+0200" for h in range(4, 24, 2)],
        ),
        ("America/New_York", "fall", "15 1,2 * * *", ["01:15-0400", "02:15-0500"]),
    ],
)
def test_cron_fixed_hour_runs_once_across_dst_changes(
    tz: str, change: str, expression: str, expected: list[str]
) -> None:
    assert ticks_on(expression, tz, CHANGES[tz, change]) == expected


@pytest.mark.parametrize(("tz", "change"), list(CHANGES))
@pytest.mark.parametrize(("expression", "period"), [("*/15 * * * *", 900), ("0 * * * *", 3600)])
def test_cron_hourly_or_finer_runs_by_the_new_local_time(
    tz: str, change: str, expression: str, period: int
) -> None:
    """In both passes of a repeated hour, never in a skipped one: one tick per `period` of
    real time, whatever the clocks do."""
    day = CHANGES[tz, change]
    found = ticks_on(expression, tz, day)
    hours_in_day = 23 if change == "spring" else 25
    assert len(found) == hours_in_day * 3600 // period
    zone = ZoneInfo(tz)
    start = datetime.combine(day, datetime.min.time(), zone).timestamp()
    chained = list(ticks(cron(expression, tz=tz), start - 1, start + hours_in_day * 3600))
    assert all(b - a == period for a, b in pairwise(chained))
    if change == "spring":
        assert not [t for t in found if t.startswith("02:")]


@pytest.mark.parametrize(
    ("expression", "hourly"),
    [
        ("*/15 * * * *", True),
        ("0 * * * *", True),
        ("0 */1 * * *", True),
        ("0 0-23 * * *", True),
        ("30 2 * * *", False),
        ("*/20 2 * * *", False),
        ("0 */2 * * *", False),
        ("0 1-3 * * *", False),
        ("0 0-22 * * *", False),
    ],
)
def test_cron_hourly_means_the_hour_field_covers_every_hour(expression: str, hourly: bool) -> None:
    assert cron(expression).hourly is hourly


YEAR_START, YEAR_END = utc(2024, 1, 1), utc(2025, 1, 1)
DAILY = ["30 2 * * *", "0 2 * * *", "0 3 * * *", "59 1 * * *", "0 0 * * *", "15 1 * * *"]
ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("expression", DAILY)
def test_cron_daily_runs_once_per_local_day_all_year(tz: str, expression: str) -> None:
    zone = ZoneInfo(tz)
    found = list(ticks(cron(expression, tz=tz), YEAR_START, YEAR_END))
    assert all(b > a for a, b in pairwise(found))
    per_day = Counter(local(t, zone).date() for t in found)
    first, last = local(YEAR_START, zone).date(), local(YEAR_END, zone).date()
    whole_days = {first + timedelta(days=n) for n in range(1, (last - first).days)}
    assert whole_days <= set(per_day)
    assert max(per_day.values()) == 1


def dst_windows(tz: str) -> list[tuple[float, float]]:
    """Three days around each UTC-offset change of 2024 in `tz`."""
    zone, windows = ZoneInfo(tz), []
    hour = YEAR_START
    offset = local(hour, zone).utcoffset()
    while hour < YEAR_END:
        hour += 3600
        if local(hour, zone).utcoffset() != offset:
            offset = local(hour, zone).utcoffset()
            windows.append((hour - 1.5 * 86400, hour + 1.5 * 86400))
    return windows


SUBDAILY = ["*/30 * * * *", "0 * * * *", "*/15 2 * * *", "30 1-3 * * *", "*/7 * * * *"]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("expression", SUBDAILY)
def test_cron_never_goes_backwards_or_repeats_across_dst(tz: str, expression: str) -> None:
    windows = dst_windows(tz)
    assert len(windows) == 2
    schedule = cron(expression, tz=tz)
    for start, end in windows:
        found = list(ticks(schedule, start, end))
        assert found
        assert all(b > a for a, b in pairwise(found))
        assert len(set(found)) == len(found)


@settings(max_examples=300, deadline=None)
@given(
    expression=st.sampled_from(
        [
            "*/30 * * * *",
            "0 * * * *",
            "30 2 * * *",
            "*/20 1-3 * * *",
            "*/20 2 * * *",
            "* 1 * * *",
            "0 */2 * * *",
        ]
    ),
    offset=st.floats(min_value=0, max_value=3 * 86400, allow_nan=False),
    change=st.sampled_from(list(CHANGES)),
)
def test_cron_next_after_any_instant_is_the_next_chained_tick(
    expression: str, offset: float, change: tuple[str, str]
) -> None:
    """Asking from an arbitrary instant (in a gap, in a fold) gives the same tick as the
    chain of ticks from before the change: no tick skipped, none invented."""
    tz = change[0]
    day_before = CHANGES[change] - timedelta(days=1)
    start = datetime.combine(day_before, datetime.min.time(), ZoneInfo(tz)).timestamp()
    schedule = cron(expression, tz=tz)
    chain = list(ticks(schedule, start, start + 4 * 86400))
    asked = start + offset
    assert schedule.next_after(asked) == min(t for t in chain if t > asked)


# -- cron: invalid input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("", "field"),
        ("* * *", "field"),
        ("* * * * * * *", "field"),
        ("every day", "field"),
        ("61 * * * *", "minute"),
        ("0 25 * * *", "hour"),
        ("0 0 32 * *", "day-of-month"),
        ("0 0 30 2 *", "day-of-month"),
        ("0 0 * 13 *", "month"),
        ("0 9 * * xyz", "day-of-week"),
    ],
)
def test_cron_invalid_expression_is_a_configuration_error(expression: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cron(expression)
    message = str(caught.value)
    assert repr(expression) in message
    assert problem in message.lower()
    assert "five fields" in message


def test_cron_rejects_six_fields() -> None:
    with pytest.raises(ConfigurationError, match="five fields"):
        cron("* * * * * *")


@pytest.mark.parametrize("tz", ["Mars/Olympus", "Europe/Pariss", "", "../../etc/passwd"])
def test_cron_unknown_time_zone_is_a_configuration_error(tz: str) -> None:
    with pytest.raises(ConfigurationError, match="time zone") as caught:
        cron("0 9 * * mon", tz=tz)
    assert repr(tz) in str(caught.value)


@pytest.mark.parametrize("tz", [None, 5])
def test_cron_non_string_time_zone_is_a_configuration_error(tz: Any) -> None:
    with pytest.raises(ConfigurationError, match="time zone"):
        cron("0 9 * * mon", tz=tz)


@pytest.mark.parametrize("expression", [5, None, b"0 9 * * mon", ["0", "9", "*", "*", "mon"]])
def test_cron_non_string_expression_is_a_configuration_error(expression: Any) -> None:
    with pytest.raises(ConfigurationError, match="must be a string"):
        cron(expression)


def test_cron_surrounding_whitespace_is_ignored() -> None:
    schedule = cron("  0 9 * * mon \n", tz="Europe/Paris")
    assert schedule.expression == "0 9 * * mon"
    assert schedule.next_after(utc(2024, 1, 10)) == utc(2024, 1, 15, 8)


def test_cron_describe_names_expression_and_zone() -> None:
    text = cron("0 9 * * mon", tz="Europe/Paris").describe()
    assert "0 9 * * mon" in text
    assert "Europe/Paris" in text
    assert "UTC" in cron("*/5 * * * *").describe()
