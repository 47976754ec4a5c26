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
* **Per batch, not per operation.** The bookkeeping is a fixed number of
  statements per batch: a claim is one ``UPDATE ... WHERE id IN (SELECT ...
  FOR UPDATE SKIP LOCKED LIMIT n)`` and one read of the claimed rows; finishing
  is one locking read under the lease condition, one read of the batch's renames
  (``__NAME__``), one ``INSERT ... SELECT`` into the archive, one ``DELETE``, one
  ``UPDATE`` of the operations waiting behind them and one of the accounts. At a
  few hundred operations a second, one statement per operation would cost a
  worker more than the LDAP writes.
  Queueing many (``enqueue_many``, a role given to a whole group) is one
  locking read of the accounts, one ``INSERT`` and one read of the accounts'
  heads, whatever their number.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from keystead import crypto
from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.provisioning import config, rules
from keystead.provisioning.connectors.base import ENABLE, NAME, RENAMED_FROM
from keystead.provisioning.models import (
    QUEUED_PASSWORD_PURPOSE,
    AccountState,
    ArchivedOperation,
    Kind,
    Operation,
    QueuedPasswords,
    Reason,
    State,
    System,
    SystemAccount,
)
from keystead.provisioning.secrets import pack
from keystead.secret import Secret

log = logging.getLogger("keystead.provisioning")

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


@dataclass(frozen=True)
class Request:
    """One operation to queue (``enqueue_many``): ``password`` is the main password,
    ``secret_attributes`` the further password attributes (name -> Secret); both are
    kept encrypted and erased with the row. With ``account``, the account's current
    name is used, whatever ``account_name`` says."""

    system: System
    account_name: str
    kind: str
    attributes: Mapping[str, Any] | None = None
    password: Secret | None = None
    account: SystemAccount | None = None
    secret_attributes: Mapping[str, Secret] | None = None


def _checked(request: Request) -> tuple[dict[str, Any], dict[str, Secret]]:
    """The request's clean attributes and secret attributes; QueueInputError if it cannot
    be queued."""
    if request.kind not in Kind.values:
        raise QueueInputError(f"kind: {request.kind!r} is not one of {', '.join(Kind.values)}.")
    if not request.account_name:
        raise QueueInputError("account_name: empty; give the account's name on the system.")
    if request.password is not None and not isinstance(request.password, Secret):
        raise QueueInputError("password: pass a Secret, so it cannot be logged by accident.")
    secret_attributes = dict(request.secret_attributes or {})
    if any(not isinstance(value, Secret) for value in secret_attributes.values()):
        raise QueueInputError("secret_attributes: pass each value as a Secret.")
    return _check_attributes(request.attributes or {}), secret_attributes


def _encrypted(secret: Secret | None) -> str:
    return crypto.encrypt(secret, QUEUED_PASSWORD_PURPOSE) if secret else ""


def enqueue(system: System, account_name: str, kind: str, *,
            attributes: Mapping[str, Any] | None = None, password: Secret | None = None,
            account: SystemAccount | None = None,
            secret_attributes: Mapping[str, Secret] | None = None) -> Operation:
    """Queue one operation on ``account_name`` of ``system``: ``enqueue_many`` of one."""
    (operation,) = enqueue_many([Request(system, account_name, kind, attributes=attributes,
                                         password=password, account=account,
                                         secret_attributes=secret_attributes)])
    return operation


def enqueue_many(requests: Iterable[Request]) -> list[Operation]:
    """Queue the operations ``requests`` asks for, in that order, in a fixed number of
    statements whatever their number (callers pass a few hundred at a time).

    Every request is checked before anything is written (``QueueInputError``). The
    system's flags decide each operation's starting state (``rules.admission``); a new
    operation behind an account's troubled head starts ``blocked``.

    The accounts given are locked (in id order) and their current names used: a rename
    that ``finish`` is recording (it updates the account's row first, then moves the
    account's operations to the new name) either waits for these operations to commit
    and moves them too, or has committed and they are queued under the new name.
    """
    requests = list(requests)
    checked = [_checked(request) for request in requests]
    if not requests:
        return []
    now = timezone.now()
    with transaction.atomic():
        account_ids = sorted({r.account.pk for r in requests if r.account is not None})
        names = dict(SystemAccount.objects.select_for_update().filter(pk__in=account_ids)
                     .order_by("pk").values_list("pk", "name")) if account_ids else {}
        operations = []
        for request, (clean, secrets) in zip(requests, checked, strict=True):
            if request.account is not None and request.account.pk not in names:
                raise SystemAccount.DoesNotExist(
                    f"account {request.account.pk} is gone; nothing was queued.")
            state, reason = rules.admission_for(request.system, request.kind)
            operations.append(Operation(
                system=request.system, account=request.account, kind=request.kind,
                account_name=(names[request.account.pk] if request.account is not None
                              else request.account_name),
                attributes=clean, state=state, reason=reason, next_attempt_at=now,
                password_encrypted=_encrypted(request.password),
                secret_attributes_encrypted=_encrypted(pack(secrets) if secrets else None)))
        Operation.objects.bulk_create(operations)
        _block_behind_troubled_heads([op for op in operations if op.state == State.CREATED])
    return operations


def _block_behind_troubled_heads(created: list[Operation]) -> None:
    """Label ``blocked`` those of the just-inserted ``created`` operations whose account's
    head (its oldest open operation) is troubled: one read of the heads, and one UPDATE
    when some must wait."""
    if not created:
        return
    # The accounts' open operations in index order (system, account name, id): the
    # first row of each account is its head. Read straight from the index; an aggregate
    # here is planned as a scan of the whole queue while its statistics are stale (a
    # transaction that has just queued thousands of rows).
    heads: dict[tuple[int, str], dict[str, Any]] = {}
    for row in (Operation.objects.filter(system_id__in={op.system_id for op in created},
                                         account_name__in={op.account_name for op in created})
                .order_by("system_id", "account_name", "id")
                .values("id", "system_id", "account_name", "state", "attempts")):
        heads.setdefault((row["system_id"], row["account_name"]), row)
    behind: dict[int, int] = {}
    for operation in created:
        head = heads.get((operation.system_id, operation.account_name))
        if head is not None and head["id"] < operation.id and (
                head["state"] in rules.TROUBLED_STATES
                or (head["state"] == State.CREATED and head["attempts"] > 0)):
            behind[operation.id] = head["id"]
    if not behind:
        return
    waiting: dict[int, list[int]] = {}
    for operation_id, head_id in behind.items():
        waiting.setdefault(head_id, []).append(operation_id)
    Operation.objects.filter(id__in=list(behind), state=State.CREATED).update(
        state=State.BLOCKED, blocked_behind=Case(
            *[When(id__in=ids, then=Value(head_id)) for head_id, ids in waiting.items()],
            output_field=BigIntegerField()))
    for operation in created:
        if operation.id in behind:
            operation.state, operation.blocked_behind = State.BLOCKED, behind[operation.id]


@dataclass
class Claimed(QueuedPasswords):
    """A claimed operation as the worker needs it: plain values read in one query, not a
    model object (building one per row, timestamps and all, cost more than the claim's
    SQL). The passwords stay encrypted until ``password()``/``secret_attributes()``."""

    id: int
    system_id: int
    account_name: str
    kind: str
    attributes: dict[str, Any]
    password_encrypted: str
    secret_attributes_encrypted: str
    attempts: int
    lease_owner: str
    system: System


_CLAIMED = ("id", "system_id", "account_name", "kind", "attributes", "password_encrypted",
            "secret_attributes_encrypted", "attempts", "lease_owner")


def claim(worker_id: str, batch: int, *,
          settings: config.QueueSettings | None = None) -> list[Claimed]:
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
    heads = (Operation.objects.filter(runnable, system__disabled=False, system__read_only=False)
             .exclude(Exists(earlier)).order_by("id")
             .select_for_update(skip_locked=True, of=("self",))
             .values("id")[:batch])
    until = now + settings.lease
    with transaction.atomic():
        # One statement: UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)
        # RETURNING the claimed rows' values, so they need no second read. Plain SQL
        # through Django's cursor (the ORM's update() returns a count only); the
        # subquery is the ORM's, every value a parameter.
        inner, inner_params = heads.query.sql_with_params()
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Operation._meta.db_table} SET state = %s, lease_owner = %s, "  # noqa: S608 - see above
                "lease_until = %s, attempts = attempts + 1, updated_at = %s "
                f"WHERE id IN ({inner}) RETURNING {', '.join(_CLAIMED)}",
                [State.RUNNING, worker_id, adapt(until), adapt(now), *inner_params])
            rows = sorted(cursor.fetchall())
    if not rows:
        return []
    # One System object per system, not one per row (a join would build a copy for
    # each operation, settings parsed again each time).
    systems = System.objects.in_bulk({row[1] for row in rows})
    return [Claimed(op_id, system_id, name, kind,
                    json.loads(attributes) if isinstance(attributes, str) else attributes,
                    password, secrets, attempts, owner, system=systems[system_id])
            for op_id, system_id, name, kind, attributes, password, secrets, attempts, owner
            in rows]


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


#: Copies open operations into the archive inside the database (plain SQL that
#: PostgreSQL and SQLite both run): the table names come from the models, every value
#: is a parameter.
_ARCHIVE_SQL = (
    f"INSERT INTO {ArchivedOperation._meta.db_table} "  # noqa: S608 - see above
    "(operation_id, system_id, account_name, kind, attributes, had_password, state, "
    "attempts, last_error, created_at, ended_at) "
    "SELECT id, system_id, account_name, kind, attributes, "
    "(password_encrypted <> '' OR secret_attributes_encrypted <> ''), %s, attempts, "
    f"last_error, created_at, %s FROM {Operation._meta.db_table} WHERE id IN "
)


def _archive(ids: list[int], state: str, now) -> None:
    """Move the operations ``ids`` (locked by the caller) to the archive as ``state``.

    One ``INSERT ... SELECT`` and one ``DELETE`` whatever the number of rows: the
    rows are copied inside the database, never through Python. The archive has no
    password column, so the passwords go with the deleted rows.
    """
    if not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"{_ARCHIVE_SQL}({marks})",
                       [state, connection.ops.adapt_datetimefield_value(now), *ids])
    Operation.objects.filter(id__in=ids).delete()


def existence_after(kind: str, enable: Any) -> str | None:
    """The account's state (``AccountState``) once an operation of ``kind`` carrying
    ``enable`` (its ``__ENABLE__``; None without one) is executed; None when the operation
    says nothing about the account's existence (an update or a password change without
    ``__ENABLE__``). A create without ``__ENABLE__`` makes an enabled account, as every
    connector does. The one rule for both what was executed (``finish``) and what
    waits in the queue (``roles.last_sent``)."""
    if kind == Kind.DELETE:
        return AccountState.DELETED
    if kind == Kind.CREATE:
        return AccountState.DISABLED if enable is False else AccountState.PRESENT
    if enable is None:
        return None
    return AccountState.PRESENT if enable else AccountState.DISABLED


def _record_accounts(held: list[tuple[int, int | None, str, str | None, Any]],
                     uids: Mapping[int, str]) -> None:
    """Record the accounts' state (and any new uid) after their operations were executed,
    in one UPDATE for the whole batch. ``held`` is (operation id, account id, kind,
    the account's current uid, the operation's ``__ENABLE__`` or None) per executed
    operation.

    The state keeps whether the account was last disabled (``existence_after``): the
    archive that also says so is pruned after a while, an account may stay disabled
    for longer. An operation that says nothing about existence leaves a disabled
    account disabled, decided inside the statement (no read of the rows first).

    Plain SQL through Django's cursor: the ORM's ``Case(When(...))`` builds an
    expression object per account, which cost more than the rest of the batch's
    bookkeeping together.
    """
    accounts = sorted({account for _, account, _, _, _ in held if account})
    if not accounts:
        return
    told: dict[int, str] = {}
    for _, account, kind, _, enable in held:  # in id order: an account's newest wins
        state_after = existence_after(kind, enable)
        if account and state_after is not None:
            told[account] = state_after
    by_state: dict[str, list[int]] = {}
    for account, state_after in told.items():
        by_state.setdefault(state_after, []).append(account)
    new_uids = {account: uids[op] for op, account, _, current, _ in held
                if account and uids.get(op) and uids[op] != current}
    params: list[Any] = []
    state = "CASE "
    for state_after, ids in by_state.items():
        state += f"WHEN id IN ({', '.join(['%s'] * len(ids))}) THEN %s "
        params += [*ids, state_after]
    state += "WHEN state = %s THEN state ELSE %s END"
    params += [AccountState.DISABLED, AccountState.PRESENT]
    uid = ""
    if new_uids:
        uid = f", uid = CASE id {'WHEN %s THEN %s ' * len(new_uids)}ELSE uid END"
        for account, value in new_uids.items():
            params += [account, value]
    params += accounts
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {SystemAccount._meta.db_table} SET state = {state}{uid} "  # noqa: S608 - names from the model, values as parameters
                       f"WHERE id IN ({', '.join(['%s'] * len(accounts))})", params)


def record_exception(system: System, operation_id: int, kind: str, account_name: str,
                     error: str, attempts: int) -> None:
    """Audit an operation that ended in ``exception``: the one shape of that event,
    whether the target refused the operation (``worker``) or Keystead could not record
    what the target did (``finish``)."""
    audit.record("provisioning.exception", actor_label="provisioning worker",
                 target=system, outcome=Outcome.FAILURE,
                 detail={"operation": operation_id, "kind": kind, "account": account_name,
                         "error": error, "attempts": attempts})


def _name_taken(worker_id: str, operation_id: int, system_id: int, old: str, new: str,
                account_id: int, attempts: int) -> None:
    """Fail the executed rename ``operation_id`` for good: another account row of the
    system took ``new`` after the rename was queued (an unlinked row, which the check at
    queueing time could not foresee), so the account cannot take its new name here.

    The target already renamed the account, so the error names the row to deal with
    and says that a retry is harmless (the connectors count an account found under its
    new name as renamed). The account's later operations wait behind this one, still
    under the old name, as behind any exception."""
    holder = (SystemAccount.objects.filter(system_id=system_id, name=new)
              .values_list("pk", "person__email").first())
    if holder is None:  # the row that held the name was removed meanwhile
        taken = f"another account row held the name {new!r} a moment ago"
    else:
        taken = (f"its account row {holder[0]} ({holder[1] or 'linked to no person'}) "
                 f"on this system already holds the name {new!r}")
    error = (f"The system renamed account {old!r} to {new!r}, but Keystead could not "
             f"follow: {taken}, so Keystead's account row {account_id} keeps the name "
             f"{old!r}. Remove that other row or give it another name, then retry this "
             "operation: the system already has the new name, so the retry only records "
             "it here.")
    state = fail(worker_id, operation_id, error, permanent=True)
    system = System.objects.get(pk=system_id)
    log.warning("provisioning operation %s (update %s on %s) failed, now %s: %s",
                operation_id, old, system.name, state, error)
    record_exception(system, operation_id, Kind.UPDATE, old, error, attempts)


def _follow_renames(worker_id: str, executed: list[int]) -> set[int]:
    """The accounts renamed by the executed operations (``__NAME__``) take their new
    name, and so do their open operations, the rename itself included (it is archived
    under the new name, where ``reconcile`` looks, with ``__RENAMED_FROM__``):
    they were queued under the old name, behind the rename, and now address the
    account by the name it has.

    Returns the renames whose new name another account row holds: each is failed
    (``_name_taken``) in a savepoint of its own, so the unique (system, name)
    constraint undoes only that rename's follow-up and the rest of the batch is
    recorded; without it the whole batch would be rolled back and run again forever.

    One query finds the renames of the batch; a rename is rare, its savepoint and
    updates are paid only then."""
    unfollowed: set[int] = set()
    renames = (Operation.objects.filter(id__in=executed, kind=Kind.UPDATE,
                                        attributes__has_key=NAME)
               .values_list("id", "system_id", "account_name", "account_id", "attributes",
                            "attempts"))
    for operation_id, system_id, old, account_id, attributes, attempts in renames:
        new = attributes[NAME]
        if new == old:
            continue
        try:
            with transaction.atomic():
                # The archive keeps the name the rename replaced (``reconcile`` follows it).
                Operation.objects.filter(id=operation_id).update(
                    attributes={**attributes, RENAMED_FROM: old})
                if account_id is not None:
                    # First, as it locks the account's row: an operation being queued
                    # under the old name (``lifecycle`` holds that lock) is committed
                    # before the next statement moves the account's operations to the
                    # new name.
                    SystemAccount.objects.filter(pk=account_id).update(name=new)
                Operation.objects.filter(system_id=system_id, account_name=old).update(
                    account_name=new)
        except IntegrityError:
            _name_taken(worker_id, operation_id, system_id, old, new, account_id, attempts)
            unfollowed.add(operation_id)
    return unfollowed


def finish(worker_id: str, ids: Iterable[int],
           uids: Mapping[int, str] | None = None) -> list[int]:
    """Mark operations executed: archive them (their passwords erased with the row),
    release the operations blocked behind them, and record the accounts' state (present,
    disabled or deleted: ``_record_accounts``).

    Set-based: a handful of statements for the whole batch, not one per operation.
    Operations whose lease ``worker_id`` lost (another worker reclaimed them) are
    left alone; that worker finishes them. A rename whose new name another account
    row took meanwhile is failed instead (``_follow_renames``). Returns the ids
    archived.
    """
    ids = list(ids)
    if not ids:
        return []
    now = timezone.now()
    with transaction.atomic():
        # The lease condition and the row locks in one statement: a worker that lost
        # a lease gets no row back and so records nothing for it. One lock order
        # everywhere (by id): no deadlock between workers.
        held = list(Operation.objects.select_for_update(of=("self",))
                    .filter(id__in=ids, state=State.RUNNING, lease_owner=worker_id)
                    .annotate(enable=KeyTransform(ENABLE, "attributes")).order_by("id")
                    .values_list("id", "account_id", "kind", "account__uid", "enable"))
        if not held:
            return []
        unfollowed = _follow_renames(worker_id, [row[0] for row in held])
        if unfollowed:
            held = [row for row in held if row[0] not in unfollowed]
        done = [row[0] for row in held]
        _archive(done, State.EXECUTED, now)
        _unblock(done)
        _record_accounts(held, uids or {})
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
            "system_id", "account_name", "state", "kind", "account_id").get()
        Operation.objects.filter(system_id=row["system_id"], account_name=row["account_name"],
                                 id__gt=operation_id, state=State.CREATED).update(
            state=State.BLOCKED, blocked_behind=operation_id)
        if row["state"] == State.EXCEPTION:
            _password_not_delivered(row["kind"], row["account_id"])
    return row["state"]


def _password_not_delivered(kind: str, account_id: int | None) -> None:
    """A password operation that will not run (given up, cancelled) leaves the account
    with whatever password it had: it no longer holds the person's, so their next own
    change resets it rather than proving an old password the system may not have."""
    if kind == Kind.PASSWORD and account_id is not None:
        SystemAccount.objects.filter(pk=account_id).update(has_persons_password=False)


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
        _archive([row.id], State.CANCELLED, now)
        _unblock([row.id])
        _password_not_delivered(row.kind, row.account_id)
    return row


def release_disabled(system: System) -> int:
    """A system was enabled: its operations that waited because it was disabled run now."""
    return Operation.objects.filter(system=system, state=State.NOT_EXECUTED,
                                    reason=Reason.DISABLED).update(
        state=State.CREATED, reason="", next_attempt_at=timezone.now())
