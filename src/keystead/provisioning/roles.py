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
- granted and the account was last sent disabled (however long ago: the account's
  state keeps it, ``last_sent``): it is enabled again.
- granted to a person who is disabled: the account is created disabled, or
  disabled, or left disabled (``lifecycle`` enables it when the person is).
- no longer granted: the account is deleted or disabled
  (``System.on_role_removal``), unless that was already the last thing sent.

Asking from the state after the change (rather than from what the change
was) is why a role held twice, directly and through a group, or through two
groups, keeps the account when one path goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db import transaction
from django.db.models import Q, QuerySet

from keystead.directory.models import Role, User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.provisioning import mapping, passwords
from keystead.provisioning.connectors.base import ENABLE
from keystead.provisioning.models import (
    AccountState,
    Kind,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    RoleRemoval,
    RoleSystem,
    State,
    System,
    SystemAccount,
)
from keystead.provisioning.queue import Request, existence_after
from keystead.provisioning.services import Creation, queue_account_creations, queue_operations

ENABLED, DISABLED, DELETED = "enabled", "disabled", "deleted"
_T = TypeVar("_T")


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
    return (system.pk, person.pk) in granted_among([system], [person])


def granted_among(systems: Iterable[System], people: Iterable[User]) -> set[tuple[int, int]]:
    """The (system id, person id) pairs of ``systems`` x ``people`` where ``granted``
    holds, in one query."""
    system_ids = [system.pk for system in systems]
    person_ids = [person.pk for person in people]
    direct = RoleSystem.objects.filter(system__in=system_ids, role__users__in=person_ids)
    through_groups = RoleSystem.objects.filter(system__in=system_ids,
                                               role__groups__members__in=person_ids)
    return set(direct.values_list("system_id", "role__users").union(
        through_groups.values_list("system_id", "role__groups__members")))


def generating_policy(system: System) -> PasswordPolicy | None:
    """The policy new passwords for ``system`` are generated with: the system's own, else
    the installation's default one, else None."""
    return system.generating_policy or PasswordPolicy.objects.filter(
        default_for_generation=True).first()


@dataclass
class _SystemPlan:
    """What a system's new accounts need, read once for a whole ``follow``."""

    system: System
    items: list[MappedAttribute]
    policy: PasswordPolicy | None

    @classmethod
    def read(cls, system: System) -> _SystemPlan:
        items = mapping.mapped(system)
        wants_password = not items or any(item.is_password for item in items)
        return cls(system, items, generating_policy(system) if wants_password else None)

    def creation(self, person: User, held: Mapping[str, list[str]]) -> Creation:
        """The account ``person`` gets: every value computed (scripts run), with one
        generated password for all the password attributes. A failing script refuses
        (``RuleViolation`` naming the person)."""
        password = passwords.generate(self.policy) if self.policy is not None else None
        try:
            values = mapping.values_for(self.system, person, password, items=self.items,
                                        held=held)
        except mapping.MappingError as exc:
            raise RuleViolation([FieldProblem(
                "users", f"{person.email} cannot be given an account: {exc}",
                code="script")]) from None
        attributes = values.attributes if person.is_active else {**values.attributes,
                                                                 ENABLE: False}
        return Creation(self.system, mapping.account_name(self.system, person), person,
                        attributes=attributes, password=values.password,
                        secret_attributes=values.secret_attributes)


#: What an account's state says was last sent about its existence. A planned account
#: (no create executed yet, none waiting) had nothing sent that disabled it: enabled.
_SAID_BY_STATE = {AccountState.PRESENT: ENABLED, AccountState.DISABLED: DISABLED,
                  AccountState.DELETED: DELETED}


def _said(kind: str, attributes: dict | None) -> str | None:
    state = existence_after(kind, (attributes or {}).get(ENABLE))
    return None if state is None else _SAID_BY_STATE[state]


def last_sent(account: SystemAccount) -> str:
    """What was last sent about the account's existence: enabled, disabled or deleted.

    Open operations are newer than the executed ones, which the account's state
    records; a cancelled one never happened.
    """
    return last_sent_many([account])[account.pk]


def last_sent_many(accounts: Iterable[SystemAccount]) -> dict[int, str]:
    """``last_sent`` of each account, by account id, in two queries whatever their
    number: the newest open operation that says something about existence (a create, a
    delete, an update carrying ``__ENABLE__``), else the account's state, which
    ``queue.finish`` keeps for every executed operation.

    Never the archive: housekeeping prunes it, and an account disabled before that
    (a long leave) would read as enabled, so enabling the person would send nothing.
    The states are read after the operations, not taken from ``accounts`` (read
    earlier): an operation executed in between has left the queue and reached the
    state in one transaction, so it is seen in one place or the other."""
    accounts = list(accounts)
    if not accounts:
        return {}
    by_name = {(account.system_id, account.name): account.pk for account in accounts}
    systems = {account.system_id for account in accounts}
    names = {account.name for account in accounts}
    telling = Q(kind__in=[Kind.CREATE, Kind.DELETE]) | Q(attributes__has_key=ENABLE)
    open_ = (Operation.objects.filter(telling, system_id__in=systems, account_name__in=names)
             .exclude(state=State.CANCELLED).order_by("-id")
             .values_list("system_id", "account_name", "kind", "attributes"))
    said: dict[int, str] = {}
    _note_first_said(open_, by_name, said)
    unknown = [account for account in by_name.values() if account not in said]
    if unknown:
        states = SystemAccount.objects.filter(pk__in=unknown).values_list("pk", "state")
        said.update((account, _SAID_BY_STATE.get(state, ENABLED)) for account, state in states)
    return {account.pk: said.get(account.pk, ENABLED) for account in accounts}


def _note_first_said(rows: Iterable[tuple[int, str, str, dict | None]],
                     by_name: Mapping[tuple[int, str], int], said: dict[int, str]) -> None:
    """Into ``said`` (account id -> existence), for each account not yet in it, what the
    first of ``rows`` (newest first) that says something about its existence says."""
    for system_id, name, kind, attributes in rows:
        account = by_name.get((system_id, name))
        if account is not None and account not in said:
            value = _said(kind, attributes)
            if value is not None:
                said[account] = value


#: People decided and queued per round: every statement of ``follow`` is per batch (a
#: few hundred ids in an ``IN`` list, within SQLite's and PostgreSQL's parameter limits).
BATCH = 500


def _batches(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), BATCH):
        yield items[start:start + BATCH]


@transaction.atomic(savepoint=False)
def follow(systems: Iterable[System], people: Iterable[User]) -> list[Operation]:
    """Queue what makes each person's accounts on ``systems`` match the roles they hold
    now. Every value is computed (scripts run) before anything is queued.

    The people's rows are locked first (in id order), and whether each is active is read
    under that lock: two changes of one person's roles, groups or state decide one after
    the other, each on what the other committed. Otherwise two removals of the last two
    ways to a role could each still see the other way and queue nothing, and a role
    given while the person is disabled could queue an enabled account the disable never
    sees.

    Set-based: per batch of people, one read each of their accounts, of what was last
    sent to them (``last_sent_many``), of who is granted (``granted_among``) and of
    their groups and roles (``mapping.memberships_many``); then per batch a few writes
    (``queue_account_creations``, ``queue_operations``). A console request giving a role
    to thousands of people costs a few statements per batch, not a dozen per person."""
    systems, people = list(systems), list(people)
    if not systems or not people:
        return []
    plans = {system.pk: _SystemPlan.read(system) for system in systems}
    planned: list[Creation] = []
    changes: list[Request] = []
    for batch in _batches(people):
        batch = _locked_as_they_are_now(batch)
        held = {(account.system_id, account.person_id): account for account in
                SystemAccount.objects.filter(system__in=list(plans), person__in=batch)
                .exclude(state=AccountState.DELETED).select_related("system")
                .order_by("-id")}  # the oldest last: it is the one kept, as before
        said = last_sent_many(held.values())
        granted_here = granted_among(systems, batch)
        lacking: list[tuple[System, User]] = []
        for system in systems:
            for person in batch:
                account = held.get((system.pk, person.pk))
                last = said[account.pk] if account is not None else DELETED
                if (system.pk, person.pk) in granted_here:
                    if last == DELETED:
                        lacking.append((system, person))
                    elif last == DISABLED and person.is_active:
                        changes.append(_enable(account, True))
                    elif last == ENABLED and not person.is_active:
                        changes.append(_enable(account, False))
                elif account is not None:
                    wanted = (DELETED if system.on_role_removal == RoleRemoval.DELETE
                              else DISABLED)
                    if last != DELETED and last != wanted:
                        changes.append(_removal(account, wanted))
        memberships = mapping.memberships_many({person for _, person in lacking})
        planned += [plans[system.pk].creation(person, memberships[person.pk])
                    for system, person in lacking]
    with transaction.atomic():
        queued = [operation for batch in _batches(planned)
                  for operation in queue_account_creations(batch)]
        queued += [operation for batch in _batches(changes)
                   for operation in queue_operations(batch)]
    return queued


def _locked_as_they_are_now(people: Sequence[User]) -> list[User]:
    """``people`` whose rows still exist, locked, with ``is_active`` as it is now."""
    active = dict(User.objects.select_for_update(no_key=True)
                  .filter(pk__in=[p.pk for p in people])
                  .order_by("pk").values_list("pk", "is_active"))
    for person in people:
        person.is_active = active.get(person.pk, person.is_active)
    return [person for person in people if person.pk in active]


def _enable(account: SystemAccount, enabled: bool) -> Request:
    return Request(account.system, account.name, Kind.UPDATE, attributes={ENABLE: enabled},
                   account=account)


def _removal(account: SystemAccount, wanted: str) -> Request:
    if wanted == DELETED:
        return Request(account.system, account.name, Kind.DELETE, account=account)
    return _enable(account, False)


def role_granted(role: Role, people: Iterable[User]) -> list[Operation]:
    """Queue an account on each of the role's systems for each person who lacks one (or
    enable it again); called after ``people`` came to hold ``role``."""
    return follow(_systems(role), people)
