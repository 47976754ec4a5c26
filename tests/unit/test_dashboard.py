"""The dashboard's arithmetic, without a database: hours, rate, scale, bars, live sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from keystead.directory.dashboard import (
    CHART_WIDTH,
    HourCount,
    chart,
    fill_hours,
    hour_starts,
    live_session_expiry,
    percent,
    scale_top,
)

KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+5:30: its hours start at half past in UTC
BERLIN = ZoneInfo("Europe/Berlin")


def test_hour_starts_floor_in_the_local_zone_and_end_with_the_current_hour():
    now = datetime(2025, 6, 3, 14, 20, tzinfo=UTC)  # 19:50 in Kolkata
    starts = hour_starts(now, KOLKATA)
    assert len(starts) == 24
    assert starts[-1] == datetime(2025, 6, 3, 19, 0, tzinfo=KOLKATA)
    assert starts[0] == datetime(2025, 6, 2, 20, 0, tzinfo=KOLKATA)
    assert starts[0].astimezone(UTC) == datetime(2025, 6, 2, 14, 30, tzinfo=UTC)
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(starts))


def test_hour_starts_stay_an_hour_apart_across_a_daylight_saving_change():
    # Berlin went from 02:00 CET to 03:00 CEST on 2025-03-30 (01:00 UTC).
    starts = hour_starts(datetime(2025, 3, 30, 5, 10, tzinfo=UTC), BERLIN, hours=6)
    assert [f"{s:%H}" for s in starts] == ["01", "03", "04", "05", "06", "07"]
    utc = [s.astimezone(UTC) for s in starts]
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(utc))


def test_fill_hours_puts_zero_in_empty_hours_and_matches_instants_across_zones():
    starts = hour_starts(datetime(2025, 6, 3, 14, 20, tzinfo=UTC), KOLKATA, hours=3)
    # The database answers in UTC; 13:30 UTC is 19:00 in Kolkata.
    counts = {datetime(2025, 6, 3, 13, 30, tzinfo=UTC): 4,
              datetime(2025, 6, 3, 10, 30, tzinfo=UTC): 2,  # 16:00: before the window
              datetime(2025, 6, 3, 12, 30, tzinfo=KOLKATA): 9}  # not an hour of the window
    filled = fill_hours(starts, counts)
    assert [h.count for h in filled] == [0, 0, 4]
    assert [h.start for h in filled] == starts
    assert filled[-1].label == "19:00 to 20:00"


@pytest.mark.parametrize(("part", "whole", "expected"), [
    (2, 6, 33), (1, 3, 33), (2, 3, 66), (0, 5, 0), (5, 5, 100), (199, 200, 99), (3, 0, None),
])
def test_percent_rounds_down_and_is_none_without_people(part, whole, expected):
    assert percent(part, whole) == expected


@pytest.mark.parametrize(("largest", "top"), [
    (0, 1), (1, 1), (2, 2), (3, 5), (5, 5), (6, 10), (11, 20), (21, 50), (99, 100), (101, 200),
])
def test_scale_top_is_the_next_round_number(largest, top):
    assert scale_top(largest) == top


def _hours(*counts: int) -> list[HourCount]:
    start = datetime(2025, 6, 3, 0, 0, tzinfo=UTC)
    return [HourCount(start + timedelta(hours=i), n) for i, n in enumerate(counts)]


def test_chart_bars_scale_to_the_round_top_and_empty_hours_get_no_bar():
    drawn = chart(_hours(0, 5, 10, 1, *([0] * 20)))
    assert drawn.top == 10 and drawn.total == 16
    assert len(drawn.bars) == 24
    plot = drawn.baseline - drawn.plot_top
    heights = [bar.height for bar in drawn.bars[:4]]
    assert heights == [0, pytest.approx(plot / 2), pytest.approx(plot), pytest.approx(plot / 10)]
    assert drawn.bars[2].y == pytest.approx(drawn.plot_top)  # the busiest hour reaches the top
    assert all(bar.y + bar.height == pytest.approx(drawn.baseline) for bar in drawn.bars)
    assert drawn.busiest.count == 10 and drawn.busiest.label == "02:00 to 03:00"


def test_chart_bars_fill_the_width_in_order_and_one_failure_beside_many_stays_visible():
    drawn = chart(_hours(1000, 1, *([0] * 22)))
    assert drawn.bars[1].height >= 1.5
    assert drawn.bars[0].x < drawn.bars[1].x < drawn.bars[23].x
    assert drawn.bars[23].x + drawn.bars[23].width <= CHART_WIDTH
    assert drawn.ticks == ["00:00", "06:00", "12:00", "18:00"]


def test_chart_without_failures_has_no_busiest_hour():
    drawn = chart(_hours(*([0] * 24)))
    assert drawn.total == 0 and drawn.busiest is None and drawn.top == 1
    assert not any(bar.height for bar in drawn.bars)


def test_live_sessions_were_saved_within_the_idle_limit():
    now = datetime(2025, 6, 3, 12, 0, tzinfo=UTC)
    # Saved at 11:30 with a 12-hour cookie: expires 23:30, after 12:00 + 12h - 1h = 23:00.
    assert live_session_expiry(now, 12 * 3600, 3600) == datetime(2025, 6, 3, 23, 0, tzinfo=UTC)
    assert live_session_expiry(now, 12 * 3600, 0) == now  # no idle limit: until it expires
    assert live_session_expiry(now, 3600, 7200) == now  # idle limit longer than the cookie
