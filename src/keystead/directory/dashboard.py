"""The console dashboard's arithmetic: hourly buckets, the enrolment rate, the chart's bars.

Plain functions over plain values (the caller passes the clock and the time
zone), so the rules are tested without a database and the page template only
prints what they computed. The queries that feed them are in
``dashboard_data``.

The chart is drawn on the server as SVG: the console's content security policy
allows no inline script or style, and a chart library would be a script (and
often a request to another host). SVG geometry is given in attributes, which
the policy allows; colours come from ``dashboard.css``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

HOURS = 24
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class HourCount:
    """How many events began in the hour starting at ``start`` (local time)."""

    start: datetime
    count: int

    @property
    def label(self) -> str:
        """``"14:00 to 15:00"``: the hour as a person reads it (or hears it read)."""
        return f"{self.start:%H:%M} to {self.start + HOUR:%H:%M}"


def hour_starts(now: datetime, zone: tzinfo, hours: int = HOURS) -> list[datetime]:
    """The starts of the last ``hours`` local hours, the current one last.

    The current hour is floored in ``zone`` (so a zone half an hour off UTC gets
    its own hours), then the earlier ones are counted back in UTC: one real hour
    apart, also across a daylight-saving change.
    """
    local = now.astimezone(zone)
    current = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return [(current - HOUR * back).astimezone(zone) for back in range(hours - 1, -1, -1)]


def fill_hours(starts: Sequence[datetime], counts: Mapping[datetime, int]) -> list[HourCount]:
    """One ``HourCount`` per start, 0 where the query found nothing.

    ``counts`` is keyed by aware hour starts in any zone: aware datetimes compare
    by the instant, so a database's truncated hour matches the computed one.
    Counts outside ``starts`` are left out.
    """
    return [HourCount(start, counts.get(start, 0)) for start in starts]


def percent(part: int, whole: int) -> int | None:
    """``part`` of ``whole`` in whole percent, rounded down so 99.6% never shows as 100%;
    None when there is nothing to divide (no people yet)."""
    if whole <= 0:
        return None
    return min(100, max(0, part * 100 // whole))


def scale_top(largest: int) -> int:
    """The chart's top value: the smallest 1, 2 or 5 times a power of ten not below
    ``largest`` (at least 1), so the top line is a round number and the tallest bar
    nearly reaches it."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= largest:
                return step * factor
        step *= 10


def live_session_expiry(now: datetime, cookie_age: int, idle_seconds: int) -> datetime:
    """Sessions whose stored expiry is after this moment are still signed in.

    Django's database sessions store ``expire_date`` = last save + ``cookie_age``,
    and ``keystead.login.idle`` saves an active session at least once a minute.
    A session idle for longer than ``idle_seconds`` therefore has an expiry before
    ``now + cookie_age - idle_seconds`` and ends at its next request, so it is not
    counted. With no idle limit (0) a session counts until it expires.
    """
    if idle_seconds <= 0 or idle_seconds >= cookie_age:
        return now
    return now + timedelta(seconds=cookie_age - idle_seconds)


@dataclass(frozen=True)
class Bar:
    """One hour's bar in the SVG chart; coordinates in the chart's own units."""

    hour: HourCount
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    """Everything the template draws: the bars, the axis labels and the scale."""

    width: int
    height: int
    plot_top: float  # where the line for ``top`` is drawn
    baseline: float  # the zero line
    top: int
    bars: list[Bar]
    # The time axis's labels, one per ``tick_every`` hours. They are HTML under the SVG,
    # not SVG text, so they stay readable however far a phone shrinks the drawing; with
    # 24 hours and one label every 6 they fall on the 4 equal columns of dashboard.css.
    ticks: list[str]
    total: int
    busiest: HourCount | None


# The chart's drawing area; the SVG scales to its container, so only the proportions matter.
CHART_WIDTH, CHART_HEIGHT = 480, 124
_PLOT_TOP, _PLOT_BOTTOM, _GAP = 4, 122, 2


def chart(hours: Sequence[HourCount], *, tick_every: int = 6) -> Chart:
    """Bars for ``hours`` (oldest first) scaled to ``scale_top`` of the busiest hour.

    An hour with failures always gets at least a sliver, so one failure beside a
    hundred is still visible; an hour without any gets no bar.
    """
    top = scale_top(max((h.count for h in hours), default=0))
    plot = _PLOT_BOTTOM - _PLOT_TOP
    slot = CHART_WIDTH / max(len(hours), 1)
    bars = []
    for index, hour in enumerate(hours):
        height = 0.0 if not hour.count else max(1.5, plot * hour.count / top)
        bars.append(Bar(hour, x=round(index * slot + _GAP / 2, 2),
                        y=round(_PLOT_BOTTOM - height, 2), width=round(slot - _GAP, 2),
                        height=round(height, 2)))
    ticks = [f"{hour.start:%H:%M}" for index, hour in enumerate(hours)
             if index % tick_every == 0]
    busiest = max(hours, key=lambda h: h.count, default=None)
    return Chart(width=CHART_WIDTH, height=CHART_HEIGHT, plot_top=_PLOT_TOP,
                 baseline=_PLOT_BOTTOM, top=top,
                 bars=bars, ticks=ticks, total=sum(h.count for h in hours),
                 busiest=busiest if busiest is not None and busiest.count else None)
