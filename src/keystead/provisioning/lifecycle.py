"""A person's life reaches their accounts: details changed, disabled or enabled, deleted.

Roles decide *whether* a person has an account on a system (``roles``); this
module keeps the accounts a person has in step with the person themselves:

- **details changed** (user name, email, names): each open account gets one
  update carrying the non-password mapped attributes whose values changed
  (every script runs first; one that fails refuses the change, nothing is
  queued). When the field that names the account on a system changed
  (``System.account_name_from``), the update also carries ``__NAME__``, the new
  name: the connector renames the account first, and the local account's name
  follows once the update is executed (``queue.finish``), so the account's
  operations stay in one line, in order.
- **disabled**: each open account last sent enabled is disabled
  (``__ENABLE__`` false, as losing a role does with *disable*), in the same
  update as any attribute change. A failing script never stops a disable:
  the attributes are then left as they were.
- **enabled again**: each open account last sent disabled (however long ago:
  the account's state keeps it, not only the archive, which housekeeping prunes)
  is enabled again if a role the person holds still grants it; the others stay
  disabled.
- **groups or roles changed**, in membership or in name: the same as details
  changed, for the attributes mapped from ``user.groups`` and ``user.roles``
  (``memberships_before`` or, for a rename, ``name_changing``, then
  ``memberships_changed``, called by ``signals``).
- **deleted**: each open account gets a delete. The account row stays (its
  person emptied) and the operation refers to it, so its history remains.

An *open* account is one not deleted and not being deleted (``roles.last_sent``),
so nothing is queued twice. The account rows are locked while deciding, so
two changes of one person at the same moment queue one after the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from keystead.directory.models import User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.provisioning import mapping, roles
from keystead.provisioning.connectors.base import ENABLE, NAME
from keystead.provisioning.models import AccountState, Kind, Operation, SystemAccount
from keystead.provisioning.services import queue_operation


def _open_with_last_sent(person: User) -> tuple[list[SystemAccount], dict[int, str]]:
    """The person's accounts that exist or will (not deleted, no delete last sent),
    locked until the caller's transaction ends, and what was last sent about each
    (``roles.last_sent_many``, read once for all of them)."""
    accounts = list(SystemAccount.objects.filter(person=person)
                    .exclude(state=AccountState.DELETED).select_related("system")
                    .select_for_update(of=("self",)).order_by("id"))
    said = roles.last_sent_many(accounts)
    return [account for account in accounts if said[account.pk] != roles.DELETED], said


def open_accounts(person: User) -> list[SystemAccount]:
    """``_open_with_last_sent`` without what was last sent."""
    return _open_with_last_sent(person)[0]


def _enable_change(account: SystemAccount, person: User, said: str) -> bool | None:
    """``__ENABLE__`` to send after the person was enabled or disabled (``said``: what was
    last sent about the account), or None."""
    if not person.is_active:
        return False if said == roles.ENABLED else None
    if said == roles.DISABLED and roles.granted(account.system, person):
        return True
    return None


def _refused(changed: Iterable[str], exc: mapping.MappingError,
             field: str | None = None) -> RuleViolation:
    field = field or next((name for name in (*mapping.PERSON_SOURCES, *mapping.MEMBERSHIPS)
                           if name in changed), "user")
    return RuleViolation([FieldProblem(
        field, f"This change cannot be sent to a connected system: {exc} Correct the "
               "value, or the system's mapping.", code="script")])


def _new_name(account: SystemAccount, changed: set[str], before: Mapping[str, Any],
              after: Mapping[str, Any]) -> str | None:
    """The account's new name when the person's field that names it changed, or None.

    Refused (``RuleViolation`` on that field) when another account on the system has
    the name: the local name follows the rename once executed, and must stay unique."""
    field = mapping.naming_field(account.system)
    if field not in changed or before[field] == after[field]:
        return None
    new = after[field]
    if SystemAccount.objects.filter(system_id=account.system_id, name=new).exclude(
            pk=account.pk).exists():
        raise RuleViolation([FieldProblem(
            field, f"System {account.system.name!r} already has an account named {new!r}, "
                   f"so this person's account there cannot take that name. Choose another "
                   f"{field.replace('_', ' ')}, or remove that account first.",
            code="account_name")])
    return new


def _planned(person: User, changed: set[str], before: Mapping[str, Any],
             after: Mapping[str, Any] | None = None, *,
             field: str | None = None) -> list[tuple[SystemAccount, dict]]:
    """What each open account of ``person`` gets (not yet queued) when their data goes
    from ``before`` to ``after`` (overrides of ``mapping.user_data``; None: as stored
    now). Raises ``RuleViolation`` as ``person_changed`` says, on ``field`` if given
    (else on the first changed field)."""
    accounts, said = _open_with_last_sent(person)
    if not accounts:
        return []
    after_data = mapping.user_data(person, after)
    before_data = mapping.user_data(person, before)
    planned = []
    for account in accounts:
        try:
            attributes = mapping.changed_values(account.system, before_data, after_data)
        except mapping.MappingError as exc:
            if changed != {"is_active"}:
                raise _refused(changed, exc, field) from None
            attributes = {}  # disabling is never refused: only the lock is sent
        attributes.pop(ENABLE, None)  # decided below, by the roles held
        attributes.pop(NAME, None)
        new_name = _new_name(account, changed, before_data, after_data)
        if new_name is not None:
            attributes[NAME] = new_name  # the account's row, and so its state, follows
        if "is_active" in changed:
            enable = _enable_change(account, person, said[account.pk])
            if enable is not None:
                attributes[ENABLE] = enable
        if attributes:
            planned.append((account, attributes))
    return planned


def person_changed(person: User, changed: Iterable[str],
                   before: Mapping[str, Any]) -> list[Operation]:
    """Queue one update per open account of ``person`` after their ``changed`` fields
    (previously ``before``) changed: the mapped attributes whose values differ, and
    ``__ENABLE__`` when being enabled or disabled changes the account.

    Every value is computed first: a failing script raises ``RuleViolation`` naming the
    system and attribute, and nothing is queued; except when only being active changed,
    so that disabling someone is never refused (the attributes are then left as they
    were). Fields no script or source reads (``source``, ``external_id``) queue
    nothing."""
    changed = set(changed) & {*mapping.PERSON_SOURCES, *mapping.MEMBERSHIPS}
    if not changed:
        return []
    with transaction.atomic():
        return [queue_operation(account.system, account.name, Kind.UPDATE,
                                attributes=attributes, account=account)
                for account, attributes in _planned(person, changed, before)]


def person_deleted(person: User) -> list[Operation]:
    """Queue the deletion of every open account of ``person``, who is being deleted.

    Called before the person's row goes, in the same transaction: the accounts still
    name the person here, and keep their rows (without a person) afterwards."""
    with transaction.atomic():
        return [queue_operation(account.system, account.name, Kind.DELETE, account=account)
                for account in open_accounts(person)]


def memberships_before(people: Iterable[User]) -> dict[int, dict[str, list[str]]]:
    """The groups and roles of those of ``people`` who have accounts, taken before a
    change of group or role membership (``memberships_changed`` compares with them)."""
    people = list(people)
    with_accounts = set(SystemAccount.objects.filter(person__in=people)
                        .exclude(state=AccountState.DELETED)
                        .values_list("person_id", flat=True))
    return mapping.memberships_many([person for person in people
                                     if person.pk in with_accounts])


def memberships_changed(people: Iterable[User],
                        before: Mapping[int, Mapping[str, list[str]]]) -> list[Operation]:
    """After group or role membership changed: each account gets the attributes mapped
    from ``user.groups`` / ``user.roles`` whose values changed (as ``person_changed``)."""
    return [operation for person in people if person.pk in before
            for operation in person_changed(person, mapping.MEMBERSHIPS, before[person.pk])]


def name_changing(people: Iterable[User], held: str, old: str,
                  new: str) -> dict[int, dict[str, list[str]]]:
    """Before a group (``held`` is ``"groups"``) or a role (``"roles"``) held by ``people``
    is renamed from ``old`` to ``new``: their groups and roles as they are, for
    ``memberships_changed`` once the new name is stored.

    Every value the new name gives is computed here first, so a script that cannot
    send it refuses the rename (``RuleViolation``) before anything is written, as it
    refuses a membership change."""
    people = list(people)
    before = memberships_before(people)
    with transaction.atomic():
        for person in people:
            if person.pk not in before:
                continue
            names = before[person.pk][held]
            after = {**before[person.pk], held: sorted(new if name == old else name
                                                       for name in names)}
            _planned(person, {held}, before[person.pk], after, field="name")
    return before
