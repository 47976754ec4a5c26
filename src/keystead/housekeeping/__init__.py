"""Housekeeping: removing short-lived rows once nothing needs them, so tables stay bounded.

Every sign-in leaves a session, every refresh a rotated refresh token and an ID
token, every reset request a link row, every mail an outbox row; nothing in the
request paths removes them all. ``run`` removes what has run out, kind by kind
(``kinds``), and reports how many rows of each kind went.

It runs hourly in every provisioning worker (``keystead worker``, and the one
``keystead serve`` starts on SQLite) and on demand as ``keystead housekeeping``.
Several runs at once are harmless: every removal is a conditional DELETE, which a
second process finds already done; nothing is read, changed in Python and written
back.

A dry run does the same work inside one transaction and rolls it back: its counts
are exactly what a real run would remove at that moment (including the rows one
kind's removal frees for the next), and nothing is removed.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

log = logging.getLogger("keystead.housekeeping")


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


def run_logged() -> list[Pruned] | None:
    """``run`` for a long-lived process (the provisioning worker): a failure is logged and
    the process goes on with its own work; the next run comes at the next interval."""
    try:
        return run()
    except Exception:
        log.exception("housekeeping failed; nothing more was removed in this run")
        return None


def summary(pruned: list[Pruned], *, dry_run: bool = False) -> str:
    """One line of counts for the log: only numbers and kinds, never a value."""
    found = [f"{p.count} {p.kind}" for p in pruned if p.count]
    if not found:
        return "nothing to remove"
    return ", ".join(found) + (" would be removed" if dry_run else " removed")

