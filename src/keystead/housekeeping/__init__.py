"""Housekeeping: removing short-lived rows once nothing needs them, so tables stay bounded.

Every sign-in leaves a session, every refresh a rotated refresh token and an ID
token, every reset request a link row, every mail an outbox row, every provisioning
operation an archived copy; nothing in the request paths removes them all. ``run``
removes what has run out, kind by kind (``kinds``), and reports how many rows of each
kind went.

The installation runs it once per ``EVERY``: each provisioning worker (``keystead
worker``, and the one ``keystead serve`` starts on SQLite) asks now and then, in a
thread of its own beside its batches, and the one whose claim on the installation's
``LastRun`` row succeeds runs it (``schedule``). ``keystead housekeeping`` runs it on
demand, whatever the row says. Both record the run in that row, which ``keystead
housekeeping --status`` and ``keystead check`` show. A run on demand beside a
worker's is harmless: every removal is a conditional DELETE, which a second process
finds already done; nothing is read, changed in Python and written back.

A dry run does the same work inside one transaction and rolls it back: its counts
are exactly what a real run would remove at that moment (including the rows one
kind's removal frees for the next), and nothing is removed or recorded.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

if TYPE_CHECKING:
    from keystead.housekeeping.models import LastRun

log = logging.getLogger("keystead.housekeeping")

#: How often the installation runs housekeeping from its workers: often enough that
#: expired rows never pile up for long, rarely enough that a run finds work to do.
EVERY = timedelta(hours=1)

#: Who a run on demand is recorded as.
ON_DEMAND = "keystead housekeeping"


@dataclass(frozen=True)
class Pruned:
    """How many rows of one kind a run removed (or, in a dry run, would remove)."""

    kind: str
    count: int


def run(dry_run: bool = False) -> list[Pruned]:
    """Remove every kind of row that has run out; per kind, how many went (or would go)."""
    from keystead.housekeeping import kinds  # models: only once Django is set up

    now = timezone.now()
    pruned: list[Pruned] = []
    # A real run commits batch by batch; a dry run is one transaction, rolled back.
    with transaction.atomic() if dry_run else nullcontext():
        for step in kinds.ALL:
            pruned.extend(Pruned(kind, count) for kind, count in step(now).items())
        if dry_run:
            transaction.set_rollback(True)
    log.info("housekeeping%s: %s", " (dry run, nothing removed)" if dry_run else "",
             summary(pruned, dry_run=dry_run))
    return pruned


def run_if_due(by: str) -> list[Pruned] | None:
    """The periodic run, for a long-lived process (a provisioning worker named ``by``):
    only if no process of the installation started one within ``EVERY``. A failure is
    logged and the process goes on with its own work; the next run comes when it is due
    again. None when another process ran it, or on a failure."""
    from keystead.housekeeping import schedule  # models: only once Django is set up

    try:
        started = schedule.claim_if_due(by, EVERY)
        return None if started is None else _recorded(started)
    except Exception:
        log.exception("housekeeping failed; nothing more was removed in this run")
        return None


def run_on_demand() -> list[Pruned]:
    """A run now, whatever the last one was (``keystead housekeeping``), recorded like the
    periodic one so the workers' next run comes an interval after it."""
    from keystead.housekeeping import schedule

    return _recorded(schedule.claim_now(ON_DEMAND))


def _recorded(started: datetime) -> list[Pruned]:
    """``run``, its end and counts written to the row its start was claimed in."""
    from keystead.housekeeping import schedule

    try:
        pruned = run()
    except Exception:
        schedule.finish(started, None)
        raise
    schedule.finish(started, pruned)
    return pruned


def describe(row: LastRun | None) -> str:
    """The installation's latest run (``schedule.last``) in one line, for ``--status`` and
    ``keystead check``: when and by whom, and how it ended; only counts, never a value."""
    if row is None:
        return "never run"
    started = f"started {_utc(row.started_at)} by {row.started_by}"
    if row.finished_at is None:
        return f"{started}, not finished (still running, or its process stopped)"
    if row.failed:
        return f"{started}, failed at {_utc(row.finished_at)} (see that process's log)"
    removed = summary([Pruned(kind, count) for kind, count in row.removed])
    return f"{started}, finished {_utc(row.finished_at)}: {removed}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def summary(pruned: list[Pruned], *, dry_run: bool = False) -> str:
    """One line of counts for the log: only numbers and kinds, never a value."""
    found = [f"{p.count} {p.kind}" for p in pruned if p.count]
    if not found:
        return "nothing to remove"
    return ", ".join(found) + (" would be removed" if dry_run else " removed")

