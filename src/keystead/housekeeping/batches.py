"""Deleting rows in short transactions, and counting what a library's own clean-up removed."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

#: Rows per DELETE: each batch is its own short transaction, so a first run over a large
#: backlog never holds locks or an undo log for millions of rows at once.
BATCH = 1000


def delete_in_batches(rows: QuerySet) -> int:
    """Delete every row of ``rows``, a batch at a time; how many this call deleted.

    Each batch's DELETE repeats the queryset's condition beside the picked keys, so a
    row that changed after it was picked (a new sign-in code written over an expired
    one in the same row) is left alone. Deletes are idempotent: several processes
    running this at once each delete what is still there and count only that.
    """
    total = 0
    while True:
        keys = list(rows.order_by().values_list("pk", flat=True)[:BATCH])
        if not keys:
            return total
        _, per_model = rows.filter(pk__in=keys).delete()
        total += per_model.get(rows.model._meta.label, 0)
        if len(keys) < BATCH:
            return total


def removed_by(clean_up: Callable[[], object], watched: dict[str, QuerySet]) -> dict[str, int]:
    """Run a library's ``clean_up`` (which reports nothing) and count, per label, the rows
    of each watched queryset that were there before it ran and are gone after.

    Watch only rows that existed when the run began (e.g. ``created__lte=start``), so
    rows written meanwhile do not hide removals. Rows another process removed meanwhile
    (a second run, a revocation) are counted too: the counts say what went during the
    run, which is what an operator watching the table sees.
    """
    before = {label: rows.count() for label, rows in watched.items()}
    clean_up()
    return {label: max(before[label] - rows.count(), 0) for label, rows in watched.items()}
