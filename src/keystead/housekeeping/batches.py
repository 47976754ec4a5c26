"""Deleting rows in short transactions."""

from __future__ import annotations

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
