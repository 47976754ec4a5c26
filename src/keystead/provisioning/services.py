"""What administrators and other code do with provisioning: authorized and audited.

Every door (the console, the API, the command line) calls these functions,
which decide who may act (``require_queue_change`` / ``require_system_change``)
and leave an audit Event. Later code that changes people's accounts or
passwords queues its operations through ``queue_operation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.authorization import Actor, NotAllowed
from keystead.directory.models import Outcome, User
from keystead.provisioning import queue, rules
from keystead.provisioning.models import (
    AccountState,
    Kind,
    Operation,
    State,
    System,
    SystemAccount,
)
from keystead.secret import Secret

CHANGE_OPERATIONS = "provisioning.change_operation"
CHANGE_SYSTEMS = "provisioning.change_system"
FLAGS = ("read_only", "disabled", "block_create", "block_update", "block_delete",
         "send_password_attributes_together")


class ProvisioningRefused(ValueError):
    """The request cannot be done as asked; the message says why and what to do."""


def _require(actor: Actor, permission: str, words: str, event: str,
             request: HttpRequest | None, detail: dict[str, Any]) -> None:
    if actor.superuser or permission in actor.permissions:
        return
    audit.record(event, request=request, actor=actor.user, actor_label=actor.label,
                 outcome=Outcome.DENIED, detail={**detail, "reason": f"needs {permission}"})
    raise NotAllowed(f"{actor.label} may not {words} (needs the {permission} permission).")


def require_queue_change(actor: Actor, *, event: str, request: HttpRequest | None = None,
                         detail: dict[str, Any] | None = None) -> None:
    """Retrying or cancelling queued operations needs ``provisioning.change_operation``."""
    _require(actor, CHANGE_OPERATIONS, "retry or cancel provisioning operations", event,
             request, detail or {})


def require_system_change(actor: Actor, *, event: str, request: HttpRequest | None = None,
                          detail: dict[str, Any] | None = None) -> None:
    """Changing a connected system needs ``provisioning.change_system``."""
    _require(actor, CHANGE_SYSTEMS, "change connected systems", event, request, detail or {})


def queue_operation(system: System, account_name: str, kind: str, *,
                    attributes: Mapping[str, Any] | None = None,
                    password: Secret | None = None,
                    account: SystemAccount | None = None) -> Operation:
    """Queue one operation for ``system``; the entry point for code that changes people
    (password changes, role assignment). The system's flags decide its starting state."""
    operation = queue.enqueue(system, account_name, kind, attributes=attributes,
                              password=password, account=account)
    if operation.state == State.NOT_EXECUTED:
        audit.record("provisioning.not_executed", actor_label="provisioning",
                     target=system, outcome=Outcome.FAILURE,
                     detail={"operation": operation.id, "kind": kind, "account": account_name,
                             "reason": operation.reason})
    return operation


def queue_account_creation(system: System, name: str, *, person: User | None = None,
                           attributes: Mapping[str, Any] | None = None,
                           password: Secret | None = None) -> Operation:
    """Record ``person``'s account ``name`` on ``system`` and queue its creation; on
    creation the password travels with all the other attributes."""
    with transaction.atomic():
        account, _ = SystemAccount.objects.get_or_create(
            system=system, name=name, defaults={"person": person})
        return queue_operation(system, name, Kind.CREATE, attributes=attributes,
                               password=password, account=account)


def queue_password_change(person: User, password: Secret) -> list[Operation]:
    """Queue the new password for every account ``person`` has on a system (not deleted):
    one operation each, carrying the main password with the account's name only.

    Called once the password was accepted and saved; all operations are queued
    in one transaction, so none is queued if one cannot be.
    """
    accounts = (SystemAccount.objects.filter(person=person)
                .exclude(state=AccountState.DELETED).select_related("system").order_by("id"))
    with transaction.atomic():
        return [queue_operation(account.system, account.name, Kind.PASSWORD,
                                password=password, account=account) for account in accounts]


def retry(operation_id: int, *, actor: Actor, request: HttpRequest | None = None) -> Operation:
    """Run an operation in exception or not executed again, now, with fresh attempts.

    Refused while the system's flags would stop it again (read-only, the kind
    blocked, disabled): the message says which flag to clear first.
    """
    detail = {"operation": operation_id}
    require_queue_change(actor, event="provisioning.retry", request=request, detail=detail)
    operation = Operation.objects.select_related("system").filter(id=operation_id).first()
    if operation is None:
        raise ProvisioningRefused(f"operation: {operation_id} is not in the queue (it ended "
                                  "already; the archive lists it).")
    state, reason = rules.admission_for(operation.system, operation.kind)
    if state != State.CREATED:
        flag = {"read_only": "read-only", "blocked_kind": f"block {operation.kind}",
                "disabled": "disabled"}[reason].replace("block password", "block update")
        raise ProvisioningRefused(f"operation: system {operation.system.name!r} is "
                                  f"{flag}; clear that flag on the system, then retry.")
    if not queue.retry_now(operation_id):
        raise ProvisioningRefused(
            f"operation: {operation_id} is {operation.why}; only an operation in exception, "
            "not executed, or waiting for a retry can be retried.")
    audit.record("provisioning.retry", request=request, actor=actor.user,
                 actor_label=actor.label, target=operation.system,
                 detail={**detail, "account": operation.account_name, "kind": operation.kind,
                         "was": operation.state})
    operation.refresh_from_db()
    return operation


def cancel(operation_id: int, *, actor: Actor, request: HttpRequest | None = None) -> None:
    """Cancel an operation that is not running: it moves to the archive as cancelled,
    its password is erased, and the account's next operation may run."""
    detail = {"operation": operation_id}
    require_queue_change(actor, event="provisioning.cancel", request=request, detail=detail)
    row = queue.cancel(operation_id)
    if row is None:
        running = Operation.objects.filter(id=operation_id).exists()
        raise ProvisioningRefused(
            f"operation: {operation_id} is running; wait for it to end." if running else
            f"operation: {operation_id} is not in the queue (it ended already).")
    audit.record("provisioning.cancel", request=request, actor=actor.user,
                 actor_label=actor.label, target=row.system,
                 detail={**detail, "account": row.account_name, "kind": row.kind,
                         "was": row.state})


def change_flags(system: System, *, actor: Actor, request: HttpRequest | None = None,
                 **flags: bool) -> list[str]:
    """Set some of a system's flags; returns the names that changed. Enabling a disabled
    system releases the operations that waited for it."""
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise ProvisioningRefused(f"{unknown[0]}: not a flag; use one of {', '.join(FLAGS)}.")
    require_system_change(actor, event="provisioning.system.change", request=request,
                          detail={"system": system.name})
    with transaction.atomic():
        locked = System.objects.select_for_update().get(pk=system.pk)
        changed = [name for name, value in flags.items() if getattr(locked, name) != value]
        if not changed:
            return []
        System.objects.filter(pk=system.pk).update(
            updated_at=timezone.now(), **{name: flags[name] for name in changed})
        locked.refresh_from_db()
        released = queue.release_disabled(locked) if not locked.disabled else 0
        audit.record("provisioning.system.change", request=request, actor=actor.user,
                     actor_label=actor.label, target=locked,
                     detail={"changed": {name: flags[name] for name in changed},
                             "released": released})
    system.refresh_from_db()
    return changed
