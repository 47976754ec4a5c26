"""A provisioning worker: claims batches, runs them through connectors, records results.

Any number of workers may run against one PostgreSQL database; each claims
account heads under a lease, renews the lease from a side thread while it
works, and records the batch's results in one transaction. A batch holds at
most one operation per account, so its operations for one system go to the
connector together (``run_many``): the LDAP connector has them in flight at
once, the others send them one after another. A worker asked to stop
(SIGTERM) finishes the operations in hand (those already sent), records what
it did and hands back the rest of its batch at once; a worker that is killed
leaves its operations to expire and be claimed again, and the connectors make
the second run harmless. Another side thread runs the installation's housekeeping
when it is due, so a long run never delays a batch.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from django.db import close_old_connections, connection

from keystead import housekeeping
from keystead.crypto import DecryptionError
from keystead.provisioning import config, queue
from keystead.provisioning.connectors import Connector, ConnectorError, connector_for
from keystead.provisioning.connectors.base import (
    CREATE,
    DELETE,
    PASSWORD,
    UPDATE,
    Request,
    secrets_in,
)
from keystead.provisioning.models import Kind, State, System
from keystead.secret import Secret, without

log = logging.getLogger("keystead.provisioning")

#: How often a worker asks whether the installation's housekeeping is due: one
#: conditional UPDATE of one row, so a run starts at most this long after it is due.
HOUSEKEEPING_CHECK = timedelta(minutes=1)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _request(operation: queue.Claimed) -> Request:
    """The connector request for an operation, its passwords decrypted into ``Secret``s."""
    if operation.kind == Kind.DELETE:
        return Request(DELETE, operation.account_name, {})
    attributes = dict(operation.attributes)
    attributes.update(operation.secret_attributes())
    password = operation.password()
    if password is not None:
        attributes[PASSWORD] = password
    return Request(CREATE if operation.kind == Kind.CREATE else UPDATE,
                   operation.account_name, attributes)


def _by_system(operations: list[queue.Claimed]) -> list[list[queue.Claimed]]:
    """The batch split per system, each part in the batch's order (oldest first)."""
    groups: dict[int, list[queue.Claimed]] = {}
    for operation in operations:
        groups.setdefault(operation.system_id, []).append(operation)
    return list(groups.values())


class Worker:
    def __init__(self, worker_id: str | None = None, *, batch: int = 50,
                 settings: config.QueueSettings | None = None) -> None:
        self.worker_id = worker_id or new_worker_id()
        self.batch = batch
        self.settings = settings or config.load()
        self.stopping = threading.Event()
        self._held: set[int] = set()
        self._held_lock = threading.Lock()
        self._connectors: dict[int, tuple[object, Connector]] = {}

    # -- lifecycle ------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the worker to stop after the operations in hand (safe from a signal handler)."""
        self.stopping.set()

    def run(self, *, idle_seconds: float = 1.0, once: bool = False) -> int:
        """Work until stopped (or, with ``once``, until the queue has nothing due).
        Returns the number of operations executed."""
        renewer = threading.Thread(target=self._renew_leases, name="lease-renewal", daemon=True)
        renewer.start()
        housekeeper = threading.Thread(target=self._housekeeping, name="housekeeping",
                                       daemon=True)
        housekeeper.start()
        executed = 0
        try:
            while not self.stopping.is_set():
                done, claimed = self.run_batch()
                executed += done
                if claimed == 0:
                    if once:
                        break
                    self.stopping.wait(idle_seconds)
        finally:
            self.stopping.set()
            renewer.join()
            housekeeper.join()  # a housekeeping run in progress finishes first
            for _, connector in self._connectors.values():
                connector.close()
            self._connectors.clear()
        return executed

    def _renew_leases(self) -> None:
        """Renew the leases of the batch in hand at a third of the lease, until stopped."""
        every = self.settings.lease.total_seconds() / 3
        try:
            while not self.stopping.wait(every):
                with self._held_lock:
                    held = list(self._held)
                if held:
                    queue.renew(self.worker_id, held, settings=self.settings)
        finally:
            connection.close()

    def _housekeeping(self) -> None:
        """Run the installation's housekeeping whenever it is due, whichever worker's claim
        succeeds (``housekeeping.run_if_due``): asked first at the start (so a worker run
        with ``once`` does it too), then every ``HOUSEKEEPING_CHECK`` until stopped."""
        try:
            while True:
                close_old_connections()  # drop a connection closed while idle, or broken
                housekeeping.run_if_due(self.worker_id)
                if self.stopping.wait(HOUSEKEEPING_CHECK.total_seconds()):
                    return
        finally:
            connection.close()

    # -- one batch ------------------------------------------------------------------
    def run_batch(self) -> tuple[int, int]:
        """Claim one batch and run it; returns (executed, claimed). Executed counts what
        ``finish`` archived: not an operation whose lease was lost, nor a rename it
        could not record."""
        if not connection.in_atomic_block:  # (a caller's transaction: a test) keep it
            close_old_connections()  # drop a connection the database closed while idle
        operations = queue.claim(self.worker_id, self.batch, settings=self.settings)
        if not operations:
            return 0, 0
        with self._held_lock:
            self._held = {op.id for op in operations}
        succeeded: list[int] = []
        uids: dict[int, str] = {}
        handled: set[int] = set()
        try:
            for group in _by_system(operations):
                if self.stopping.is_set():
                    break
                for operation, outcome in self._send(group):
                    handled.add(operation.id)
                    if outcome is not False:
                        succeeded.append(operation.id)
                        if outcome:
                            uids[operation.id] = outcome
        finally:
            executed = queue.finish(self.worker_id, succeeded, uids)
            remaining = [op.id for op in operations if op.id not in handled]
            if remaining:
                queue.release(self.worker_id, remaining)
            with self._held_lock:
                self._held = set()
        if executed:
            log.info("provisioning worker %s: %d of %d operations executed", self.worker_id,
                     len(executed), len(operations))
        return len(executed), len(operations)

    def _connector(self, system: System) -> Connector:
        cached = self._connectors.get(system.id)
        if cached is not None and cached[0] == system.updated_at:
            return cached[1]
        if cached is not None:
            cached[1].close()
        connector = connector_for(system)
        self._connectors[system.id] = (system.updated_at, connector)
        return connector

    def _send(self, operations: list[queue.Claimed]
              ) -> list[tuple[queue.Claimed, str | bool | None]]:
        """Send one system's operations (distinct accounts) with the connector's
        ``run_many``. Returns (operation, the account's uid or None on success, False on a
        failure, recorded on the operation) for each operation handled; those left out
        were not started (the worker is stopping)."""
        handled: list[tuple[queue.Claimed, str | bool | None]] = []
        requests: list[Request] = []
        sending: list[tuple[queue.Claimed, list[Secret]]] = []
        for operation in operations:
            try:
                requests.append(_request(operation))
            except DecryptionError as exc:
                self._failed(operation, str(exc), permanent=True)
                handled.append((operation, False))
                continue
            sending.append((operation, secrets_in(requests[-1].attributes)))
        if not requests:
            return handled
        connector: Connector | None = None
        try:
            connector = self._connector(operations[0].system)
            outcomes = connector.run_many(requests, stop=self.stopping.is_set)
        except Exception as exc:  # a connector that cannot even start fails every request
            outcomes = [exc] * len(requests)
        # The system's own secrets (a bind password, a bearer token) are hidden too, should
        # a client library's error repeat what it was given.
        own = list(connector.secrets.values()) if connector is not None else []
        for (operation, sent), outcome in zip(sending, outcomes, strict=False):
            if isinstance(outcome, Exception):
                self._refused(operation, outcome, sent + own)
                handled.append((operation, False))
            else:
                handled.append((operation, outcome))
        return handled

    def _refused(self, operation: queue.Claimed, exc: Exception, sent: list[Secret]) -> None:
        if isinstance(exc, ConnectorError):
            self._failed(operation, without(str(exc), sent), permanent=exc.permanent)
        elif isinstance(exc, DecryptionError):  # the system's secrets (another SECRET_KEY)
            self._failed(operation, str(exc), permanent=True)
        else:  # a connector bug must not stop the worker
            # Recorded and logged like a refusal, without a traceback: its last line
            # would repeat the exception's text, which the redaction below cannot reach.
            self._failed(operation, without(f"unexpected {type(exc).__name__}: {exc}",
                                              sent), permanent=False)

    def _failed(self, operation: queue.Claimed, error: str, *, permanent: bool) -> None:
        state = queue.fail(self.worker_id, operation.id, error, permanent=permanent,
                           settings=self.settings)
        log.warning("provisioning operation %s (%s %s on %s) failed, now %s: %s",
                    operation.id, operation.kind, operation.account_name,
                    operation.system.name, state or "held by another worker", error)
        if state == State.EXCEPTION:
            queue.record_exception(operation.system, operation.id, operation.kind,
                                   operation.account_name, error, operation.attempts)

