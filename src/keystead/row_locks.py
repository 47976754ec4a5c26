"""Lock a row and take its current values before a change that saves it whole.

A door or a batch (an API request, a page of a directory sync, the console's form)
reads a record, and a service changes it later. A save that writes every field from
that earlier copy undoes whatever changed since: a password set, a lockout, a disable,
a secret replaced. Under the row lock the copy is current, and any other writer waits
until the change commits.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model

from keystead.directory.rules import Conflict, FieldProblem


def lock_and_read_again(record: Model, what: str) -> None:
    """Lock ``record``'s row (inside the caller's transaction) and reload its fields; a
    record deleted meanwhile is a ``Conflict``, told as ``what`` ("person")."""
    try:
        record.refresh_from_db(
            from_queryset=record._meta.model._default_manager.select_for_update(no_key=True))
    except ObjectDoesNotExist:
        raise Conflict([FieldProblem("id", f"This {what} was deleted meanwhile; read the "
                                           "list again.")]) from None
