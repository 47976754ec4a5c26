"""Roles grant accounts: holding a role that maps to a system gives the person an account.

``role_granted`` queues the creation of the account with all its mapped
attributes. When the system's mapping has password attributes, a password is
generated with the system's generating policy, else the installation's default
generating policy (``PasswordPolicy.default_for_generation``), else none: the
password scripts then receive null. The same generated password goes to every
password attribute's script. A script that fails refuses the whole assignment
(``RuleViolation``) and nothing is queued.

``role_removed`` deletes or disables the account (``System.on_role_removal``)
once no other role the person holds directly maps to the system.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from keystead.directory.models import Role, User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.provisioning import mapping, passwords
from keystead.provisioning.connectors.base import ENABLE
from keystead.provisioning.models import (
    AccountState,
    Kind,
    Operation,
    PasswordPolicy,
    RoleRemoval,
    RoleSystem,
    System,
    SystemAccount,
)
from keystead.provisioning.services import queue_account_creation, queue_operation
from keystead.secret import Secret


def _systems(role: Role) -> list[System]:
    return [link.system for link in RoleSystem.objects.filter(role=role)
            .select_related("system", "system__generating_policy").order_by("system_id")]


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
    return {"system": system, "name": mapping.account_name(system, person), "person": person,
            "attributes": values.attributes, "password": values.password,
            "secret_attributes": values.secret_attributes}


def role_granted(role: Role, people: Iterable[User]) -> list[Operation]:
    """Queue an account on each of the role's systems for each person who lacks one.
    Every value is computed (scripts run) before anything is queued."""
    planned, enable = [], []
    for system in _systems(role):
        for person in people:
            held = SystemAccount.objects.filter(system=system, person=person).exclude(
                state=AccountState.DELETED).first()
            if held is None:
                planned.append(_creation(system, person))
            elif (system.on_role_removal == RoleRemoval.DISABLE
                  and not RoleSystem.objects.filter(system=system, role__users=person)
                  .exclude(role=role).exists()):
                enable.append(held)  # given back after a removal disabled it
    with transaction.atomic():
        queued = [queue_account_creation(**item) for item in planned]
        queued += [queue_operation(account.system, account.name, Kind.UPDATE,
                                   attributes={ENABLE: True}, account=account)
                   for account in enable]
    return queued


def role_removed(role: Role, people: Iterable[User]) -> list[Operation]:
    """Delete or disable the accounts the role gave, unless another role the person
    holds directly grants an account on the same system."""
    queued = []
    with transaction.atomic():
        for system in _systems(role):
            for person in people:
                still = RoleSystem.objects.filter(system=system, role__users=person).exclude(
                    role=role).exists()
                if still:
                    continue
                for account in SystemAccount.objects.filter(system=system, person=person).exclude(
                        state=AccountState.DELETED):
                    if system.on_role_removal == RoleRemoval.DELETE:
                        queued.append(queue_operation(system, account.name, Kind.DELETE,
                                                      account=account))
                    else:
                        queued.append(queue_operation(system, account.name, Kind.UPDATE,
                                                      attributes={ENABLE: False},
                                                      account=account))
    return queued
