"""A provisioning worker: claims batches, runs them through connectors, records results.

Any number of workers may run against one PostgreSQL database; each claims
account heads under a lease, renews the lease from a side thread while it
works, and records the batch's results in one transaction. A worker asked to
stop (SIGTERM) finishes the operation in hand, records what it did and hands
back the rest of its batch at once; a worker that is killed leaves its
operations to expire and be claimed again, and the connectors make the second
run harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.db import close_old_connections, connection

from keystead.crypto import DecryptionError
from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.provisioning import config, queue
from keystead.provisioning.connectors import Connector, ConnectorError, connector_for
from keystead.provisioning.connectors.base import PASSWORD
from keystead.provisioning.models import Kind, Operation, State, System
from keystead.secret import REDACTED, Secret

log = logging.getLogger("keystead.provisioning")

PRUNE_EVERY = timedelta(hours=1)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _redacted(text: str, secrets: list[Secret]) -> str:
    """Error text with the operation's passwords removed, whatever the target echoed."""
    for secret in secrets:
        if secret:
            text = text.replace(secret.reveal(), REDACTED)
    return text


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
        self._last_prune: float | None = None

    # -- lifecycle ------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the worker to stop after the operation in hand (safe from a signal handler)."""
        self.stopping.set()

    def run(self, *, idle_seconds: float = 1.0, once: bool = False) -> int:
        """Work until stopped (or, with ``once``, until the queue has nothing due).
        Returns the number of operations executed."""
        renewer = threading.Thread(target=self._renew_leases, name="lease-renewal", daemon=True)
        renewer.start()
        executed = 0
        try:
            while not self.stopping.is_set():
                self._prune_now_and_then()
                done, claimed = self.run_batch()
                executed += done
                if claimed == 0:
                    if once:
                        break
                    self.stopping.wait(idle_seconds)
        finally:
            self.stopping.set()
            renewer.join()
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

    def _prune_now_and_then(self) -> None:
        due = (self._last_prune is None
               or time.monotonic() - self._last_prune >= PRUNE_EVERY.total_seconds())
        if due:
            self._last_prune = time.monotonic()
            pruned = queue.prune_archive(self.settings.archive_days)
            if pruned:
                log.info("provisioning archive: %d operations older than %d days removed",
                         pruned, self.settings.archive_days)

    # -- one batch ------------------------------------------------------------------
    def run_batch(self) -> tuple[int, int]:
        """Claim one batch and run it; returns (executed, claimed)."""
        if not connection.in_atomic_block:  # (a caller's transaction: a test) keep it
            close_old_connections()  # drop a connection the database closed while idle
        operations = queue.claim(self.worker_id, self.batch, settings=self.settings)
        if not operations:
            return 0, 0
        with self._held_lock:
            self._held = {op.id for op in operations}
        succeeded: list[int] = []
        uids: dict[int, str] = {}
        remaining = list(operations)
        try:
            while remaining and not self.stopping.is_set():
                operation = remaining.pop(0)
                uid = self._execute(operation)
                if uid is not False:
                    succeeded.append(operation.id)
                    if uid:
                        uids[operation.id] = uid
        finally:
            queue.finish(self.worker_id, succeeded, uids)
            if remaining:
                queue.release(self.worker_id, [op.id for op in remaining])
            with self._held_lock:
                self._held = set()
        if succeeded:
            log.info("provisioning worker %s: %d of %d operations executed", self.worker_id,
                     len(succeeded), len(operations))
        return len(succeeded), len(operations)

    def _connector(self, system: System) -> Connector:
        cached = self._connectors.get(system.id)
        if cached is not None and cached[0] == system.updated_at:
            return cached[1]
        if cached is not None:
            cached[1].close()
        connector = connector_for(system)
        self._connectors[system.id] = (system.updated_at, connector)
        return connector

    def _execute(self, operation: Operation) -> str | bool | None:
        """Send one operation; returns the account's uid (or None) on success, False on
        failure (recorded on the operation)."""
        sent: list[Secret] = []
        try:
            password = operation.password()
            attributes = dict(operation.attributes)
            attributes.update(operation.secret_attributes())
            if password is not None:
                attributes[PASSWORD] = password
            sent = [value for value in attributes.values() if isinstance(value, Secret)]
            connector = self._connector(operation.system)
            if operation.kind == Kind.CREATE:
                return connector.create(operation.account_name, attributes)
            if operation.kind == Kind.DELETE:
                connector.delete(operation.account_name)
                return None
            return connector.update(operation.account_name, attributes)
        except ConnectorError as exc:
            self._failed(operation, _redacted(str(exc), sent), permanent=exc.permanent)
        except DecryptionError as exc:
            self._failed(operation, str(exc), permanent=True)
        except Exception as exc:  # a connector bug must not stop the worker
            # Recorded and logged like a refusal, without a traceback: its last line
            # would repeat the exception's text, which the redaction below cannot reach.
            self._failed(operation, _redacted(f"unexpected {type(exc).__name__}: {exc}",
                                              sent), permanent=False)
        return False

    def _failed(self, operation: Operation, error: str, *, permanent: bool) -> None:
        state = queue.fail(self.worker_id, operation.id, error, permanent=permanent,
                           settings=self.settings)
        log.warning("provisioning operation %s (%s %s on %s) failed, now %s: %s",
                    operation.id, operation.kind, operation.account_name,
                    operation.system.name, state or "held by another worker", error)
        if state == State.EXCEPTION:
            audit.record("provisioning.exception", actor_label="provisioning worker",
                         target=operation.system, outcome=Outcome.FAILURE,
                         detail={"operation": operation.id, "kind": operation.kind,
                                 "account": operation.account_name, "error": error,
                                 "attempts": operation.attempts})

