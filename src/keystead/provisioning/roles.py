"""Roles grant accounts: holding a role that maps to a system gives the person an account.

A person holds a role directly (``Role.users``) or through a directory group
(``Role.groups`` and ``Group.members``). Whatever changed, the same question
is asked afterwards, per system and person: does some role the person holds
now, by either path, grant an account here? ``follow`` answers it and queues
what closes the gap:

- granted and no account: the account is created with all its mapped
  attributes. When the system's mapping has password attributes, a password
  is generated with the system's generating policy, else the installation's
  default generating policy (``PasswordPolicy.default_for_generation``), else
  none: the password scripts then receive null. The same generated password
  goes to every password attribute's script. A script that fails refuses the
  whole change (``RuleViolation``) and nothing is queued.
- granted and the account was last sent disabled: it is enabled again.
- granted to a person who is disabled: the account is created disabled, or
  disabled, or left disabled (``lifecycle`` enables it when the person is).
- no longer granted: the account is deleted or disabled
  (``System.on_role_removal``), unless that was already the last thing sent.

Asking from the state after the change (rather than from what the change
was) is why a role held twice, directly and through a group, or through two
groups, keeps the account when one path goes.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q, QuerySet

from keystead.directory.models import Role, User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.provisioning import mapping, passwords
from keystead.provisioning.connectors.base import ENABLE
from keystead.provisioning.models import (
    AccountState,
    ArchivedOperation,
    Kind,
    Operation,
    PasswordPolicy,
    RoleRemoval,
    RoleSystem,
    State,
    System,
    SystemAccount,
)
from keystead.provisioning.services import queue_account_creation, queue_operation
from keystead.secret import Secret

ENABLED, DISABLED, DELETED = "enabled", "disabled", "deleted"


def _systems(role: Role) -> list[System]:
    return systems_of([role.pk])


def systems_of(role_ids: Iterable[int]) -> list[System]:
    """The systems any of the roles grants an account on."""
    return list(System.objects.filter(roles__role__in=list(role_ids)).distinct()
                .select_related("generating_policy").order_by("id"))


def holders(role: Role) -> QuerySet[User]:
    """Everyone who holds ``role``, directly or through a directory group."""
    return User.objects.filter(Q(roles=role) | Q(directory_groups__roles=role)).distinct()


def granted(system: System, person: User) -> bool:
    """Whether some role ``person`` holds now, directly or through a group, maps to
    ``system``."""
    return RoleSystem.objects.filter(system=system).filter(
        Q(role__users=person) | Q(role__groups__members=person)).exists()


def generated_password(system: System) -> Secret | None:
    """A new password by the system's generating policy, else the default one, else None."""
    policy = system.generating_policy or PasswordPolicy.objects.filter(
        default_for_generation=True).first()
    return passwords.generate(policy) if policy is not None else None


def _creation(system: System, person: User) -> dict:
    password = generated_password(system) if (
        mapping.is_unmapped(system) or mapping.has_password_attributes(system)) else None
    try:
        values = mapping.values_for(system, person, password)
    except mapping.MappingError as exc:
        raise RuleViolation([FieldProblem(
            "users", f"{person.email} cannot be given an account: {exc}",
            code="script")]) from None
    attributes = values.attributes if person.is_active else {**values.attributes,
                                                             ENABLE: False}
    return {"system": system, "name": mapping.account_name(system, person), "person": person,
            "attributes": attributes, "password": values.password,
            "secret_attributes": values.secret_attributes}


def _said(kind: str, attributes: dict | None) -> str | None:
    if kind == Kind.DELETE:
        return DELETED
    if kind == Kind.CREATE:
        return DISABLED if (attributes or {}).get(ENABLE) is False else ENABLED
    if attributes and ENABLE in attributes:
        return ENABLED if attributes[ENABLE] else DISABLED
    return None


def last_sent(account: SystemAccount) -> str:
    """What was last sent about the account's existence: enabled, disabled or deleted.

    Open operations are newer than archived ones; a cancelled one never happened.
    """
    open_ = (Operation.objects.filter(system_id=account.system_id, account_name=account.name)
             .exclude(state=State.CANCELLED).order_by("-id").values_list("kind", "attributes"))
    archived = (ArchivedOperation.objects.filter(system_id=account.system_id,
                                                 account_name=account.name,
                                                 state=State.EXECUTED)
                .order_by("-operation_id").values_list("kind", "attributes"))
    for rows in (open_, archived):
        for kind, attributes in rows.iterator():
            said = _said(kind, attributes)
            if said is not None:
                return said
    return ENABLED


def follow(systems: Iterable[System], people: Iterable[User]) -> list[Operation]:
    """Queue what makes each person's accounts on ``systems`` match the roles they hold
    now. Every value is computed (scripts run) before anything is queued."""
    people = list(people)
    planned, enable, remove = [], [], []
    for system in systems:
        for person in people:
            held = SystemAccount.objects.filter(system=system, person=person).exclude(
                state=AccountState.DELETED).order_by("id").first()
            if granted(system, person):
                said = last_sent(held) if held is not None else DELETED
                if said == DELETED:
                    planned.append(_creation(system, person))
                elif said == DISABLED and person.is_active:
                    enable.append(held)
                elif said == ENABLED and not person.is_active:
                    remove.append((held, DISABLED))
            elif held is not None:
                said = last_sent(held)
                wanted = DELETED if system.on_role_removal == RoleRemoval.DELETE else DISABLED
                if said != DELETED and said != wanted:
                    remove.append((held, wanted))
    with transaction.atomic():
        queued = [queue_account_creation(**item) for item in planned]
        queued += [queue_operation(account.system, account.name, Kind.UPDATE,
                                   attributes={ENABLE: True}, account=account)
                   for account in enable]
        for account, wanted in remove:
            if wanted == DELETED:
                queued.append(queue_operation(account.system, account.name, Kind.DELETE,
                                              account=account))
            else:
                queued.append(queue_operation(account.system, account.name, Kind.UPDATE,
                                              attributes={ENABLE: False}, account=account))
    return queued


def role_granted(role: Role, people: Iterable[User]) -> list[Operation]:
    """Queue an account on each of the role's systems for each person who lacks one (or
    enable it again); called after ``people`` came to hold ``role``."""
    return follow(_systems(role), people)


def role_removed(role: Role, people: Iterable[User]) -> list[Operation]:
    """Delete or disable the accounts the role gave, unless another role the person
    holds (directly or through a group) grants an account on the same system; called
    after ``people`` stopped holding ``role``."""
    return follow(_systems(role), people)
