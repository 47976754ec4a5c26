"""What administrators and other code do with provisioning: authorized and audited.

Every door (the console, the API, the command line) calls these functions,
which decide who may act (``require_queue_change`` / ``require_system_change``)
and leave an audit Event. Later code that changes people's accounts or
passwords queues its operations through ``queue_operation``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.authorization import Actor, require_permission
from keystead.directory.models import Outcome, User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.policy.rules import Person, describe
from keystead.provisioning import mapping, passwords, queue, rules
from keystead.provisioning.connectors.ad import CURRENT_PASSWORD
from keystead.provisioning.models import (
    AccountState,
    ConnectorType,
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


def require_queue_change(actor: Actor, *, event: str, request: HttpRequest | None = None,
                         detail: dict[str, Any] | None = None) -> None:
    """Retrying or cancelling queued operations needs ``provisioning.change_operation``."""
    require_permission(actor, CHANGE_OPERATIONS, "retry or cancel provisioning operations",
                       event, request, detail)


def require_system_change(actor: Actor, *, event: str, request: HttpRequest | None = None,
                          detail: dict[str, Any] | None = None) -> None:
    """Changing a connected system needs ``provisioning.change_system``."""
    require_permission(actor, CHANGE_SYSTEMS, "change connected systems", event, request,
                       detail)


def queue_operation(system: System, account_name: str, kind: str, *,
                    attributes: Mapping[str, Any] | None = None,
                    password: Secret | None = None,
                    account: SystemAccount | None = None,
                    secret_attributes: Mapping[str, Secret] | None = None) -> Operation:
    """Queue one operation for ``system``; the entry point for code that changes people
    (password changes, role assignment). The system's flags decide its starting state."""
    (operation,) = queue_operations([queue.Request(
        system, account_name, kind, attributes=attributes, password=password,
        account=account, secret_attributes=secret_attributes)])
    return operation


def queue_operations(requests: Iterable[queue.Request]) -> list[Operation]:
    """``queue_operation`` for many operations at once (``queue.enqueue_many``): each one
    that starts ``not executed`` (the system's flags stopped it) leaves an audit Event."""
    requests = list(requests)
    operations = queue.enqueue_many(requests)
    for request, operation in zip(requests, operations, strict=True):
        if operation.state == State.NOT_EXECUTED:
            audit.record("provisioning.not_executed", actor_label="provisioning",
                         target=request.system, outcome=Outcome.FAILURE,
                         detail={"operation": operation.id, "kind": request.kind,
                                 "account": operation.account_name,
                                 "reason": operation.reason})
    return operations


def queue_account_creation(system: System, name: str, *, person: User | None = None,
                           attributes: Mapping[str, Any] | None = None,
                           password: Secret | None = None,
                           secret_attributes: Mapping[str, Secret] | None = None) -> Operation:
    """Record ``person``'s account ``name`` on ``system`` and queue its creation; on
    creation the password (and every other password attribute) travels with all the
    other attributes."""
    with transaction.atomic():
        account, created = SystemAccount.objects.get_or_create(
            system=system, name=name, defaults={"person": person})
        if not created and account.state == AccountState.DELETED:
            # Taken again only if still deleted: of two people given the name at once,
            # the second finds it planned for the first.
            # Made again with this creation's password, which is not the person's.
            if SystemAccount.objects.filter(pk=account.pk, state=AccountState.DELETED).update(
                    state=AccountState.PLANNED, person=person, has_persons_password=False):
                account.state, account.person = AccountState.PLANNED, person
                account.has_persons_password = False
            else:
                account.refresh_from_db()
        if (not created and account.state != AccountState.DELETED and person is not None
                and account.person_id not in (None, person.pk)):
            # Another person's account still has the name: its rename to their new name
            # waits in the queue. Sharing it would send this person's values to theirs.
            raise RuleViolation([FieldProblem(
                "users", f"{person.email} cannot be given an account on {system.name}: the "
                         f"account named {name!r} there still belongs to someone else, whose "
                         "rename waits in the queue. Let the queue run, then try again.",
                code="account_name")])
        if not created and account.person_id is None and person is not None:
            # The name of a deleted person's account, taken again before its delete
            # ran: the account now follows its new holder (the delete runs first).
            SystemAccount.objects.filter(pk=account.pk, person__isnull=True).update(
                person=person, has_persons_password=False)
        return queue_operation(system, name, Kind.CREATE, attributes=attributes,
                               password=password, account=account,
                               secret_attributes=secret_attributes)


@dataclass(frozen=True)
class Creation:
    """One account to record and create (``queue_account_creations``)."""

    system: System
    name: str
    person: User
    attributes: Mapping[str, Any] = field(default_factory=dict)
    password: Secret | None = None
    secret_attributes: Mapping[str, Secret] = field(default_factory=dict)


def queue_account_creations(creations: Sequence[Creation]) -> list[Operation]:
    """``queue_account_creation`` for many accounts at once, in a few statements.

    The plain case, no account row with the name yet, is done in bulk: one read of the
    names taken, one INSERT of the account rows, one ``queue_operations``. A name that
    has a row (a deleted account's, being reused; another person's, refused; a deleted
    person's, taken over) goes through ``queue_account_creation`` and its rules, one by
    one. The unique (system, name) constraint guards the bulk INSERT against another
    process creating one of the accounts at the same moment: then the whole batch goes
    one by one instead, where ``get_or_create`` settles who has the row.
    """
    if not creations:
        return []
    with transaction.atomic():
        names = {creation.name for creation in creations}
        taken = set(SystemAccount.objects.filter(
            system__in={creation.system.pk for creation in creations}, name__in=names)
            .values_list("system_id", "name"))
        plain: dict[tuple[int, str], Creation] = {}
        for creation in creations:
            key = (creation.system.pk, creation.name)
            if key not in taken and key not in plain:
                plain[key] = creation
        accounts: list[SystemAccount] = []
        try:
            with transaction.atomic():
                accounts = SystemAccount.objects.bulk_create([
                    SystemAccount(system=creation.system, name=creation.name,
                                  person=creation.person) for creation in plain.values()])
        except IntegrityError:
            plain = {}
        queued = queue_operations([queue.Request(
            creation.system, creation.name, Kind.CREATE, attributes=creation.attributes,
            password=creation.password, account=account,
            secret_attributes=creation.secret_attributes)
            for creation, account in zip(plain.values(), accounts, strict=True)])
        bulk = set(map(id, plain.values()))
        queued += [queue_account_creation(
            creation.system, creation.name, person=creation.person,
            attributes=creation.attributes, password=creation.password,
            secret_attributes=creation.secret_attributes)
            for creation in creations if id(creation) not in bulk]
    return queued


def open_accounts(person: User) -> list[SystemAccount]:
    """``person``'s accounts on connected systems that a password change reaches: every
    one not deleted, with its system, in a stable order."""
    return list(SystemAccount.objects.filter(person=person)
                .exclude(state=AccountState.DELETED).select_related(
                    "system", "system__validation_policy").order_by("id"))


def chosen_accounts(person: User, chosen: Collection[int] | None) -> list[SystemAccount]:
    """``person``'s open accounts among ``chosen`` (ids; None: all of them). An id that is
    not one of them (another person's account, a deleted one) refuses the whole change."""
    accounts = open_accounts(person)
    if chosen is None:
        return accounts
    unknown = set(chosen) - {account.pk for account in accounts}
    if unknown:
        raise RuleViolation([FieldProblem(
            "accounts", "Choose among your own accounts: "
                        f"{', '.join(map(str, sorted(unknown)))} is not one of them "
                        "(it may have been removed meanwhile; reload the page).",
            code="unknown_account")])
    return [account for account in accounts if account.pk in set(chosen)]


def system_password_problems(person: User, password: Secret,
                             accounts: Sequence[SystemAccount] | None = None
                             ) -> list[FieldProblem]:
    """Why ``password`` fails the validation policy of a system ``person`` has an account
    on (of ``accounts``, default all open ones), one problem per system (the
    installation's policy is checked by the caller)."""
    problems = []
    person_words = Person(email=person.email, given_name=person.given_name,
                          family_name=person.family_name)
    seen: set[int] = set()
    for account in open_accounts(person) if accounts is None else accounts:
        policy = account.system.validation_policy
        if policy is None or account.system_id in seen:
            continue
        seen.add(account.system_id)
        failures = passwords.failures(policy, password, person_words)
        if failures:
            problems.append(FieldProblem(
                "password", f"For the account on {account.system.name}: "
                            f"{describe(failures)}", code="system_policy"))
    return problems


def _password_operations(account: SystemAccount, person: User, password: Secret,
                         current: Secret | None = None) -> list[dict[str, Any]]:
    """The operations one account gets for a new password (computed, not yet queued):
    the main password with the account's name only, then the other password attributes,
    or all in one when the system sends them together.

    On Active Directory a person's own change (``current`` given) carries the current
    password beside the main one, as a secret attribute, so the connector changes the
    password (delete + add, checked by AD against the old one and its history) instead
    of resetting it."""
    system = account.system
    if not mapping.is_unmapped(system) and not mapping.has_password_attributes(system):
        return []
    try:
        values = mapping.password_values(system, person, password)
    except mapping.MappingError as exc:
        raise RuleViolation([FieldProblem("password", f"The password cannot be sent: {exc}",
                                          code="script")]) from None
    together = system.send_password_attributes_together
    if together or not values.secret_attributes:
        batches = [(values.password, values.secret_attributes)]
    else:
        batches = [(values.password, {}), (None, values.secret_attributes)]
    if current is not None and system.connector == ConnectorType.AD:
        batches = [(main, {**others, CURRENT_PASSWORD: current} if main is not None else others)
                   for main, others in batches]
    return [{"password": main, "secret_attributes": others}
            for main, others in batches if main is not None or others]


def queue_password_change(person: User, password: Secret, *,
                          current: Secret | None = None,
                          accounts: Collection[int] | None = None,
                          with_keystead: bool = True) -> list[Operation]:
    """Queue a new password for the accounts ``person`` has on systems (not deleted): the
    ``accounts`` chosen (ids), or every one.

    ``current`` is the person's current password when they change their own; it goes
    only to Active Directory accounts that hold the person's password
    (``SystemAccount.has_persons_password``; see ``_password_operations``); to any other
    the change is a reset. An administrator's set passes none and stays a reset
    everywhere. ``with_keystead`` says whether Keystead's own password changes too:
    the chosen accounts then hold the person's password and the ones left out no
    longer do; without it, the chosen ones no longer do.

    First, before anything is written: the password must meet each chosen system's
    validation policy, and every password script must succeed (``RuleViolation`` on
    the ``password`` field otherwise; nothing is queued and the input is never
    logged). Then, per account with a password mapping, the main password goes with
    the account's name only, and the other password attributes follow in a second
    operation, unless the system sends them together (one operation). A system
    without any mapping gets the main password as given. All in one transaction.
    """
    chosen = chosen_accounts(person, accounts)
    problems = system_password_problems(person, password, chosen)
    if problems:
        raise RuleViolation(problems)
    planned = [(account, _password_operations(
        account, person, password, current if account.has_persons_password else None))
        for account in chosen]
    with transaction.atomic():
        queued = [queue_operation(account.system, account.name, Kind.PASSWORD,
                                  password=item["password"], account=account,
                                  secret_attributes=item["secret_attributes"])
                  for account, items in planned for item in items]
        # An account whose operation starts "not executed" (the system is read-only,
        # disabled or blocks updates) keeps its old password for now.
        stopped = {op.account_id for op in queued if op.state == State.NOT_EXECUTED}
        chosen_ids = [account.pk for account in chosen]
        SystemAccount.objects.filter(pk__in=chosen_ids).exclude(pk__in=stopped).update(
            has_persons_password=with_keystead)
        SystemAccount.objects.filter(pk__in=stopped).update(has_persons_password=False)
        if with_keystead:
            SystemAccount.objects.filter(person=person, has_persons_password=True).exclude(
                pk__in=chosen_ids).update(has_persons_password=False)
        return queued


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
