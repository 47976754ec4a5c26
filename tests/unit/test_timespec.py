"""The --since parser: pure rules, no database."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from keystead.timespec import TimespecError, parse_duration, parse_since

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 2D ", timedelta(days=2)),
        ("0m", timedelta(0)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


def test_duration_counts_back_from_now():
    assert parse_since("1h", NOW) == datetime(2025, 6, 15, 11, 0, tzinfo=UTC)
    assert parse_since("2d", NOW) == datetime(2025, 6, 13, 12, 0, tzinfo=UTC)


def test_date_means_midnight_utc():
    assert parse_since("2025-05-01", NOW) == datetime(2025, 5, 1, tzinfo=UTC)


def test_time_without_offset_is_utc():
    assert parse_since("2025-05-01T08:30", NOW) == datetime(2025, 5, 1, 8, 30, tzinfo=UTC)
    assert parse_since("2025-05-01 08:30", NOW) == datetime(2025, 5, 1, 8, 30, tzinfo=UTC)


def test_offset_is_kept():
    moment = parse_since("2025-05-01T08:30+02:00", NOW)
    assert moment == datetime(2025, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=2)))
    assert parse_since("2025-05-01T06:30Z", NOW) == moment


@pytest.mark.parametrize(
    "text",
    ["", "   ", "yesterday", "1x", "h", "-1h", "1.5h", "1 h", "2025-13-01", "30", "m30"],
)
def test_rejects_with_the_accepted_forms(text):
    with pytest.raises(TimespecError) as excinfo:
        parse_since(text, NOW)
    message = str(excinfo.value)
    assert "30m" in message
    assert "2025-05-01" in message


def test_absurd_duration_is_an_error_not_a_crash():
    with pytest.raises(TimespecError):
        parse_since("99999999999999999d", NOW)
    with pytest.raises(TimespecError):
        parse_since("999999w", NOW)
