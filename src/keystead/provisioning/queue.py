"""The durable operation queue: enqueue, claim under a lease, finish, fail, release.

The rules every function keeps:

* **Per-account order.** Only the oldest open operation of an account (its
  *head*: the lowest id among that account's rows, since ended operations
  leave the table) may run. ``claim`` enforces it in its query, so two workers
  never run two operations of one account, whatever the ``blocked`` labels say.
* **Leases.** A claimed operation is ``running`` with a lease owner and an end
  time; the worker renews it while working. An expired lease (the worker died)
  makes the operation claimable again, so nothing is lost; connectors make a
  second run safe (create-or-update, idempotent password set).
* **Blocking after a failure.** While an account's head waits for a retry or
  sits in ``exception`` (or ``not executed``), the account's later operations
  are labelled ``blocked`` with the operation they wait behind; they are
  released when that one is executed or cancelled.
* **No read-modify-write.** Every state change is one conditional UPDATE (or a
  row locked with ``SELECT ... FOR UPDATE`` in the same transaction), so any
  number of workers on PostgreSQL agree; claims skip rows another worker holds
  (``SKIP LOCKED``). On SQLite, which has no row locks, run a single worker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, DateTimeField, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from keystead import crypto
from keystead.provisioning import config, rules
from keystead.provisioning.models import (
    QUEUED_PASSWORD_PURPOSE,
    AccountState,
    ArchivedOperation,
    Kind,
    Operation,
    Reason,
    State,
    System,
    SystemAccount,
)
from keystead.provisioning.secrets import pack
from keystead.secret import Secret

#: Longest error text kept on an operation.
ERROR_LENGTH = 2000


class QueueInputError(ValueError):
    """An operation that cannot be queued; the message names the field and the fix."""


#: Attribute names that hold a password on common targets (userPassword, unicodePwd,
#: __PASSWORD__, db_password, clientSecret): never stored in clear. Narrower than the
#: log scrubber's list on purpose: postalCode or employeeKey are ordinary attributes.
_PASSWORD_NAME = re.compile(r"(pass(word|wd|phrase)?|pwd|secret)_*$", re.IGNORECASE)


def looks_like_password(name: str) -> bool:
    """Whether an attribute's name says it holds a password (then it is never clear)."""
    return bool(_PASSWORD_NAME.search(name))


def _check_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes are stored in clear: refuse anything that looks like a password."""
    for key, value in attributes.items():
        if isinstance(value, Secret) or _PASSWORD_NAME.search(key):
            raise QueueInputError(
                f"attributes: {key!r} holds a secret; pass the password as `password` "
                "(it is kept encrypted), never among the attributes.")
    return dict(attributes)


def enqueue(system: System, account_name: str, kind: str, *,
            attributes: Mapping[str, Any] | None = None, password: Secret | None = None,
            account: SystemAccount | None = None,
            secret_attributes: Mapping[str, Secret] | None = None) -> Operation:
    """Queue one operation on ``account_name`` of ``system``.

    ``password`` is the main password; ``secret_attributes`` the further password
    attributes (name -> Secret). Both are kept encrypted and erased with the row.

    The system's flags decide the starting state (``rules.admission``); a new
    operation behind an account's troubled head starts ``blocked``.
    """
    if kind not in Kind.values:
        raise QueueInputError(f"kind: {kind!r} is not one of {', '.join(Kind.values)}.")
    if not account_name:
        raise QueueInputError("account_name: empty; give the account's name on the system.")
    if password is not None and not isinstance(password, Secret):
        raise QueueInputError("password: pass a Secret, so it cannot be logged by accident.")
    secret_attributes = dict(secret_attributes or {})
    if any(not isinstance(value, Secret) for value in secret_attributes.values()):
        raise QueueInputError("secret_attributes: pass each value as a Secret.")
    clean = _check_attributes(attributes or {})
    state, reason = rules.admission_for(system, kind)
    now = timezone.now()
    with transaction.atomic():
        operation = Operation.objects.create(
            system=system, account_name=account_name, account=account, kind=kind,
            attributes=clean, state=state, reason=reason, next_attempt_at=now,
            password_encrypted=(crypto.encrypt(password, QUEUED_PASSWORD_PURPOSE)
                                if password else ""),
            secret_attributes_encrypted=(
                crypto.encrypt(pack(secret_attributes), QUEUED_PASSWORD_PURPOSE)
                if secret_attributes else ""))
        if state == State.CREATED:
            head = (Operation.objects.filter(system=system, account_name=account_name,
                                             id__lt=operation.id)
                    .order_by("id").values("id", "state", "attempts").first())
            if head is not None and (head["state"] in rules.TROUBLED_STATES or (
                    head["state"] == State.CREATED and head["attempts"] > 0)):
                Operation.objects.filter(id=operation.id, state=State.CREATED).update(
                    state=State.BLOCKED, blocked_behind=head["id"])
                operation.state, operation.blocked_behind = State.BLOCKED, head["id"]
    return operation


def claim(worker_id: str, batch: int, *,
          settings: config.QueueSettings | None = None) -> list[Operation]:
    """Claim up to ``batch`` runnable account heads for ``worker_id``, oldest first.

    Runnable: ``created`` and due, or ``running`` under an expired lease. Each
    claim counts as an attempt.
    """
    settings = settings or config.load()
    now = timezone.now()
    earlier = Operation.objects.filter(system_id=OuterRef("system_id"),
                                       account_name=OuterRef("account_name"),
                                       id__lt=OuterRef("id"))
    runnable = (Q(state=State.CREATED, next_attempt_at__lte=now)
                | Q(state=State.RUNNING, lease_until__lt=now))
    with transaction.atomic():
        ids = list(
            Operation.objects.filter(runnable, system__disabled=False, system__read_only=False)
            .exclude(Exists(earlier)).order_by("id")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)[:batch])
        if not ids:
            return []
        Operation.objects.filter(id__in=ids).update(
            state=State.RUNNING, lease_owner=worker_id, lease_until=now + settings.lease,
            attempts=F("attempts") + 1, updated_at=now)
    return list(Operation.objects.filter(id__in=ids, lease_owner=worker_id,
                                         state=State.RUNNING)
                .select_related("system").order_by("id"))


def renew(worker_id: str, ids: Iterable[int], *,
          settings: config.QueueSettings | None = None) -> int:
    """Extend the leases ``worker_id`` still holds; returns how many it holds."""
    settings = settings or config.load()
    return Operation.objects.filter(id__in=list(ids), state=State.RUNNING,
                                    lease_owner=worker_id).update(
        lease_until=timezone.now() + settings.lease)


def release(worker_id: str, ids: Iterable[int]) -> int:
    """Give back claimed operations not started (a worker stopping): not an attempt."""
    return Operation.objects.filter(id__in=list(ids), state=State.RUNNING,
                                    lease_owner=worker_id).update(
        state=State.CREATED, lease_owner="", lease_until=None,
        attempts=F("attempts") - 1, next_attempt_at=timezone.now())


def _unblock(ended_ids: list[int]) -> None:
    if ended_ids:
        Operation.objects.filter(state=State.BLOCKED, blocked_behind__in=ended_ids).update(
            state=State.CREATED, blocked_behind=None, next_attempt_at=timezone.now())


def _archive(rows: list[Operation], state: str, now) -> None:
    ArchivedOperation.objects.bulk_create([
        ArchivedOperation(operation_id=row.id, system_id=row.system_id,
                          account_name=row.account_name, kind=row.kind,
                          attributes=row.attributes,
                          had_password=bool(row.password_encrypted
                                            or row.secret_attributes_encrypted),
                          state=state, attempts=row.attempts, last_error=row.last_error,
                          created_at=row.created_at, ended_at=now)
        for row in rows])
    Operation.objects.filter(id__in=[row.id for row in rows]).delete()


def finish(worker_id: str, ids: Iterable[int],
           uids: Mapping[int, str] | None = None) -> list[int]:
    """Mark operations executed: archive them (their passwords erased with the row),
    release the operations blocked behind them, and record the accounts' state.

    Operations whose lease ``worker_id`` lost (another worker reclaimed them) are
    left alone; that worker finishes them. Returns the ids archived.
    """
    uids = uids or {}
    now = timezone.now()
    with transaction.atomic():
        rows = list(Operation.objects.select_for_update()
                    .filter(id__in=list(ids), state=State.RUNNING, lease_owner=worker_id)
                    .order_by("id"))  # one lock order everywhere: no deadlock between workers
        if not rows:
            return []
        _archive(rows, State.EXECUTED, now)
        done = [row.id for row in rows]
        _unblock(done)
        present = [r.account_id for r in rows if r.account_id and r.kind != Kind.DELETE]
        gone = [r.account_id for r in rows if r.account_id and r.kind == Kind.DELETE]
        if present:
            SystemAccount.objects.filter(id__in=present).update(state=AccountState.PRESENT)
        if gone:
            SystemAccount.objects.filter(id__in=gone).update(state=AccountState.DELETED)
        for row in rows:
            if row.account_id and uids.get(row.id):
                SystemAccount.objects.filter(id=row.account_id).exclude(
                    uid=uids[row.id]).update(uid=uids[row.id])
    return done


def fail(worker_id: str, operation_id: int, error: str, *, permanent: bool = False,
         settings: config.QueueSettings | None = None) -> str | None:
    """Record a failed attempt: ``created`` again after the schedule's wait, or
    ``exception`` once the attempts are spent (at once if ``permanent``). The
    account's later waiting operations become ``blocked`` behind this one.

    Returns the new state, or None if ``worker_id`` no longer held the operation.
    """
    settings = settings or config.load()
    now = timezone.now()
    waits = [When(attempts=number, then=Value(now + wait))
             for number, wait in enumerate(settings.retry_schedule, start=1)]
    spent = Q(pk__isnull=False) if permanent else Q(attempts__gte=settings.max_attempts)
    with transaction.atomic():
        changed = Operation.objects.filter(
            id=operation_id, state=State.RUNNING, lease_owner=worker_id).update(
            state=Case(When(spent, then=Value(State.EXCEPTION)), default=Value(State.CREATED)),
            next_attempt_at=Case(*waits, default=Value(now + settings.retry_schedule[-1]),
                                 output_field=DateTimeField()),
            lease_owner="", lease_until=None, last_error=error[:ERROR_LENGTH], updated_at=now)
        if not changed:
            return None
        row = Operation.objects.filter(id=operation_id).values(
            "system_id", "account_name", "state").get()
        Operation.objects.filter(system_id=row["system_id"], account_name=row["account_name"],
                                 id__gt=operation_id, state=State.CREATED).update(
            state=State.BLOCKED, blocked_behind=operation_id)
    return row["state"]


def retry_now(operation_id: int) -> int:
    """Make an operation in exception, not executed, or waiting for a retry due now with
    fresh attempts. Returns 1 if it changed (the caller checks the system's flags first)."""
    return Operation.objects.filter(id=operation_id).filter(
        Q(state__in=[State.EXCEPTION, State.NOT_EXECUTED])
        | Q(state=State.CREATED, attempts__gt=0)).update(
        state=State.CREATED, reason="", attempts=0, next_attempt_at=timezone.now(),
        updated_at=timezone.now())


def cancel(operation_id: int) -> Operation | None:
    """Archive an operation that is not running as ``cancelled`` (its password erased)
    and release what waited behind it. None if it is running or already gone."""
    now = timezone.now()
    with transaction.atomic():
        row = (Operation.objects.select_for_update()
               .filter(id=operation_id).exclude(state=State.RUNNING).first())
        if row is None:
            return None
        _archive([row], State.CANCELLED, now)
        _unblock([row.id])
    return row


def release_disabled(system: System) -> int:
    """A system was enabled: its operations that waited because it was disabled run now."""
    return Operation.objects.filter(system=system, state=State.NOT_EXECUTED,
                                    reason=Reason.DISABLED).update(
        state=State.CREATED, reason="", next_attempt_at=timezone.now())


def prune_archive(days: int | None = None) -> int:
    """Delete archived operations that ended more than ``days`` ago."""
    days = config.load().archive_days if days is None else days
    deleted, _ = ArchivedOperation.objects.filter(
        ended_at__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted
