"""Delivering what waits in an outbox table: claiming rows, retrying, a background thread.

Keystead sends some things after the request that caused them has committed and
answered: mail (``login.outbox``) and back-channel logouts
(``providers.oidc.backchannel``). Each has its table of rows with a ``status``
(``queued``, ``sending``, ``sent``, ``failed``) and a ``next_attempt_at``, and its own
way to send one row (``attempt``: send, then set the row's outcome and save it). What
they share is here, once:

- ``Outbox.deliver_due`` sends the rows due when the run starts, one at a time. On
  PostgreSQL a row is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` and the lock is
  held until its outcome is stored, so several processes never send one row twice. On
  SQLite (no row locks) a conditional UPDATE marks it ``sending`` with a lease, it is
  sent outside any transaction, and only a dead sender's row is taken over once the
  lease has passed.
- ``Sender`` is a process's daemon thread that delivers what is due, then sleeps until
  the next retry, a wake-up (after a commit that queued something) or
  ``POLL_SECONDS``. It holds no database connection while it sleeps; a forked child
  (a pre-forking web server) starts its own.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Min, Q
from django.utils import timezone

log = logging.getLogger(__name__)

QUEUED, SENDING = "queued", "sending"
#: An idle sender still looks for due retries (and for rows other processes queued).
POLL_SECONDS = 60.0


@dataclass
class Delivery:
    """What one run of a sender did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def backoff(attempts: int, first: timedelta, longest: timedelta) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: ``first``, doubling, capped."""
    return min(first * 2 ** max(attempts - 1, 0), longest)


@dataclass(frozen=True)
class Outbox:
    """One outbox table (``model``) and how to send one of its rows (``attempt``, given
    the claimed row and the run's ``Delivery``). ``lease``: how long a SQLite sender
    owns a row it marked ``sending``, longer than the slowest attempt. ``related``:
    what ``attempt`` reads beside the row, loaded with it."""

    model: Any
    attempt: Callable[[Any, Delivery], None]
    lease: Callable[[], timedelta]
    related: tuple[str, ...] = ()

    @staticmethod
    def due(now: datetime) -> Q:
        """Rows to try at ``now``: queued and due, or claimed by a sender whose lease ran
        out."""
        return Q(status__in=[QUEUED, SENDING], next_attempt_at__lte=now)

    def claim_next(self, now: datetime) -> Any:
        """PostgreSQL, inside the caller's transaction: lock one due row, skipping rows
        other senders hold; the lock lasts until the outcome is stored."""
        return (self.model.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related(*self.related).filter(self.due(now))
                .order_by("next_attempt_at", "id").first())

    def _next_with_row_locks(self, now: datetime, delivery: Delivery) -> bool:
        with transaction.atomic():
            row = self.claim_next(now)
            if row is None:
                return False
            self.attempt(row, delivery)
        return True

    def _next_on_sqlite(self, now: datetime, delivery: Delivery) -> bool:
        """SQLite serialises writes, so of several senders exactly one UPDATE matches."""
        rows = self.model.objects
        for pk in (rows.filter(self.due(now)).order_by("next_attempt_at", "id")
                   .values_list("pk", flat=True)[:20]):
            if rows.filter(self.due(now), pk=pk).update(status=SENDING,
                                                         next_attempt_at=now + self.lease()):
                self.attempt(rows.select_related(*self.related).get(pk=pk), delivery)
                return True
        return False

    def deliver_due(self, *, limit: int | None = None) -> Delivery:
        """Send the rows due now, in this thread, one at a time; what happened. Only rows
        due when the run starts are tried, so a failing one (which gets a later retry
        time) is tried once per run and the run ends."""
        now = timezone.now()
        delivery = Delivery()
        deliver_next = (self._next_with_row_locks
                        if connection.features.has_select_for_update_skip_locked
                        else self._next_on_sqlite)
        while limit is None or delivery.attempted < limit:
            if not deliver_next(now, delivery):
                break
        return delivery

    def seconds_until_due(self, now: datetime | None = None) -> float | None:
        """Seconds until the next row is due (0 if one is due now); None if none waits."""
        now = now or timezone.now()
        soonest = (self.model.objects.filter(status__in=[QUEUED, SENDING])
                   .aggregate(at=Min("next_attempt_at"))["at"])
        return None if soonest is None else max((soonest - now).total_seconds(), 0.0)


class Sender:
    """A process's background sender for one outbox: a daemon thread started on the
    first ``wake``. ``enabled_setting`` names the Django setting that turns it off
    (the test suite delivers in its own thread); ``stop_wait`` is how long ``stop``
    lets an attempt in progress finish."""

    def __init__(self, outbox: Outbox, *, name: str, enabled_setting: str,
                 stop_wait: Callable[[], float]) -> None:
        self.outbox = outbox
        self.name = name
        self.enabled_setting = enabled_setting
        self.stop_wait = stop_wait
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._nudge = threading.Event()
        self._stopping = threading.Event()
        self._stop_at_exit = False

    @property
    def running(self) -> bool:
        return (self._thread is not None and self._thread.is_alive()
                and self._pid == os.getpid())

    def wake(self) -> None:
        """Deliver soon: start the thread if this process has none, and nudge it."""
        if not getattr(settings, self.enabled_setting, True):
            return
        with self._lock:
            if not self.running:
                self._stopping.clear()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
                if not self._stop_at_exit:
                    atexit.register(self.stop)
                    self._stop_at_exit = True
        self._nudge.set()

    def stop(self, timeout: float | None = None) -> None:
        """Let an attempt in progress finish, then end the thread (at exit, and in tests)."""
        thread = self._thread
        self._stopping.set()
        self._nudge.set()
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout if timeout is not None else self.stop_wait())

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._nudge.clear()  # a wake-up during the round below starts another round
            pause = POLL_SECONDS
            try:
                self.outbox.deliver_due()
                due_in = self.outbox.seconds_until_due()
                if due_in is not None:
                    # At least a second: rows another process is sending stay "due".
                    pause = min(max(due_in, 1.0), POLL_SECONDS)
            except Exception:
                log.exception("the %s sender failed; it tries again in %d s", self.name,
                              POLL_SECONDS)
            finally:
                connections.close_all()  # this thread's own connections only
            self._nudge.wait(pause)
