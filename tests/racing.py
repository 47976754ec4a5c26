"""Two saves at the same moment, on real PostgreSQL connections.

The other writer inserts its row in a transaction it keeps open; the save under
test then runs in its own thread and passes every check made before writing
(the other row is not committed, so not visible). Its INSERT then waits on the
unique index for the other transaction; once PostgreSQL shows that wait, the
other writer commits, and the save meets the clash only at the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

WAIT_SECONDS = 20.0


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return cursor.fetchone()[0] > 0


def save_while_another_is_pending(other: Callable[[], Any], save: Callable[[], Any]) -> Any:
    """What ``save`` returned or raised when ``other`` committed a clashing row between
    ``save``'s checks and its write. Call from a ``transaction=True`` test."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent writers wait on each other's rows there")
    inserted, commit = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def other_writer() -> None:
        try:
            with transaction.atomic():
                other()
                inserted.set()
                commit.wait(WAIT_SECONDS)
        finally:
            connection.close()

    def saver() -> None:
        try:
            outcome["result"] = save()
        except Exception as exc:  # the test looks at what it was
            outcome["result"] = exc
        finally:
            connection.close()

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        assert inserted.wait(WAIT_SECONDS), "the other writer did not insert its row"
        saving = threading.Thread(target=saver)
        saving.start()
        deadline = time.monotonic() + WAIT_SECONDS
        while not _waiting_on_a_lock():
            assert saving.is_alive(), f"the save finished without waiting: {outcome}"
            assert time.monotonic() < deadline, "the save never waited for the other row"
            time.sleep(0.02)
    finally:
        commit.set()
        writer.join()
    saving.join(WAIT_SECONDS)
    assert not saving.is_alive()
    return outcome["result"]
