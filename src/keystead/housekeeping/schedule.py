"""Who runs housekeeping, and when: the claim on the installation's one ``LastRun`` row.

Every provisioning worker asks now and then whether the periodic run is due; the
question is a conditional UPDATE of one row (``started_at`` older than the interval),
which the database answers for one process only, so however many workers there are,
the installation runs housekeeping once per interval. Nothing is read, decided in
Python and written back. The row is created by the first claim (an INSERT that does
nothing if it exists), so a fresh or emptied database needs no setup.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Q
from django.utils import timezone

from keystead.housekeeping.models import LastRun

if TYPE_CHECKING:
    from keystead.housekeeping import Pruned

#: The one row's key.
ROW = 1


def claim_if_due(by: str, every: timedelta) -> datetime | None:
    """Record that ``by`` starts a run now, if no run started within ``every``. The start
    it recorded, or None when another process started one within ``every``."""
    now = timezone.now()
    due = Q(started_at__isnull=True) | Q(started_at__lt=now - every)
    return now if _start(by, now, due) else None


def claim_now(by: str) -> datetime:
    """Record that ``by`` starts a run now, whenever the last one started (on demand)."""
    now = timezone.now()
    _start(by, now, Q())
    return now


def _start(by: str, now: datetime, due: Q) -> bool:
    """One conditional UPDATE: whether the row matched ``due`` and now names this run."""
    LastRun.objects.bulk_create([LastRun(pk=ROW)], ignore_conflicts=True)
    return LastRun.objects.filter(due, pk=ROW).update(
        started_at=now, started_by=by, finished_at=None, removed=[], failed=False) == 1


def finish(started_at: datetime, removed: list[Pruned] | None) -> None:
    """Record the end of the run that started at ``started_at`` (``removed`` None: it
    failed). Nothing is written once a later run has started: the row describes that one."""
    LastRun.objects.filter(pk=ROW, started_at=started_at).update(
        finished_at=timezone.now(), failed=removed is None,
        removed=[[p.kind, p.count] for p in removed or []])


def last() -> LastRun | None:
    """The latest run, or None when the installation never ran housekeeping."""
    return LastRun.objects.filter(pk=ROW, started_at__isnull=False).first()
