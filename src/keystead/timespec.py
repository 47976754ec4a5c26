"""Time values such as ``--since``: a duration back from now (``30m``, ``1h30m``) or a date.

Pure functions over plain values (the caller passes ``now``), so the rules are
tested without a clock or a database, and any other command that filters by
time can reuse them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

ACCEPTED_FORMS = (
    "a duration back from now such as 90s, 30m, 1h, 2d, 1w or 1h30m "
    "(units s, m, h, d, w), or an ISO date or time such as 2025-05-01 or "
    "2025-05-01T08:00 (UTC unless it carries an offset such as +02:00)"
)

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_PART = re.compile(r"(\d+)([smhdw])")


class TimespecError(ValueError):
    """The text is neither a duration nor an ISO date; the message lists the accepted forms."""


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` -> 90 minutes. Units: s, m, h, d, w; parts add up."""
    compact = text.strip().lower()
    if not _DURATION.fullmatch(compact):
        raise TimespecError(f"{text!r} is not a duration; use {ACCEPTED_FORMS}.")
    seconds = sum(int(number) * UNIT_SECONDS[unit] for number, unit in _PART.findall(compact))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise TimespecError(f"{text!r} is too long a duration.") from None


def parse_since(text: str, now: datetime) -> datetime:
    """The moment ``text`` names, as an aware datetime: ``now`` minus a duration, or a date.

    A date alone means its midnight; a time without an offset is taken as UTC,
    the zone Keystead stores and prints.
    """
    text = text.strip()
    if not text:
        raise TimespecError(f"An empty value is not a time; use {ACCEPTED_FORMS}.")
    if _DURATION.fullmatch(text.lower()):
        try:
            return now - parse_duration(text)
        except OverflowError:
            raise TimespecError(f"{text!r} reaches back before the year 1.") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TimespecError(f"{text!r} is not a time; use {ACCEPTED_FORMS}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
