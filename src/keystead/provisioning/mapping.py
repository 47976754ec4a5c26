"""Schema and mapping: which attributes a system's accounts get, computed for a person.

A system's attributes come from its connector's ``schema()`` (``read_schema``).
Each ``MappedAttribute`` takes its value from a Keystead attribute, a constant
or a CEL script; a *password attribute* takes the password instead (through
its script if it has one). ``__PASSWORD__`` is the main password and must be
flagged as a password attribute like the others; a mapping saying otherwise is
refused (``mapping_problems``).

A system without any mapped attribute keeps the simple behaviour: it gets the
main password as given and no other attribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from keystead.directory import audit
from keystead.directory.authorization import Actor
from keystead.directory.models import Group, Role, User
from keystead.provisioning import queue, scripts
from keystead.provisioning.connectors import connector_for
from keystead.provisioning.connectors.base import PASSWORD
from keystead.provisioning.models import (
    MappedAttribute,
    NameSource,
    SchemaAttribute,
    System,
)
from keystead.secret import Secret


class MappingError(ValueError):
    """A mapping cannot give a value: the message names the system, the attribute and why."""


def mapping_problems(*, name: str, is_password: bool, source: str, constant: str,
                     script: str, schema: Iterable[str] = ()) -> dict[str, str]:
    """What is wrong with one mapped attribute, by form field (empty: nothing)."""
    problems: dict[str, str] = {}
    known = set(schema)
    if known and name not in known:
        problems["name"] = (f"{name!r} is not an attribute of this system's schema; choose one "
                            "of the attributes read from the system, or read the schema again.")
    if name == PASSWORD and not is_password:
        problems["is_password"] = ("__PASSWORD__ is the main password: tick 'password "
                                   "attribute' for it, or password changes will not reach it.")
    elif not is_password and queue.looks_like_password(name):
        problems["is_password"] = (f"{name!r} holds a password: tick 'password attribute', "
                                   "so its value is kept encrypted.")
    if is_password and (source or constant):
        problems["source" if source else "constant"] = (
            "A password attribute gets the password (through its script, if any); clear the "
            "source and the constant.")
    if script:
        try:
            scripts.check(script)
        except scripts.ScriptError as exc:
            problems["script"] = f"{exc}."
    return problems


def read_schema(system: System, *, actor: Actor, request: HttpRequest | None = None) -> int:
    """Replace the system's schema attributes with what its connector reports now."""
    from keystead.provisioning.services import require_system_change

    require_system_change(actor, event="provisioning.schema.read", request=request,
                          detail={"system": system.name})
    connector = connector_for(system)
    try:
        found = connector.schema()
    finally:
        connector.close()
    with transaction.atomic():
        SchemaAttribute.objects.filter(system=system).delete()
        SchemaAttribute.objects.bulk_create([
            SchemaAttribute(system=system, name=a.name, required=a.required,
                            multivalued=a.multivalued, type=a.type) for a in found])
    audit.record("provisioning.schema.read", request=request, actor=actor.user,
                 actor_label=actor.label, target=system, detail={"attributes": len(found)})
    return len(found)


#: The person's own fields among what scripts get; the others are derived or related.
PERSON_SOURCES = ("username", "email", "given_name", "family_name", "is_active")
#: What a person holds rather than is; changes through group and role membership.
MEMBERSHIPS = ("groups", "roles")


def memberships(person: User) -> dict[str, list[str]]:
    """The names of the groups ``person`` is in and of the roles they hold, as scripts
    get them (``user.groups``, ``user.roles``)."""
    if not person.pk:
        return {"groups": [], "roles": []}
    return memberships_many([person])[person.pk]


def memberships_many(people: Iterable[User]) -> dict[int, dict[str, list[str]]]:
    """``memberships`` of each of ``people`` (saved ones), by person id, in two queries
    whatever their number: one for the groups, one for the roles held directly or
    through a group."""
    ids = [person.pk for person in people if person.pk]
    held: dict[int, dict[str, set[str]]] = {pk: {"groups": set(), "roles": set()}
                                            for pk in ids}
    if not ids:
        return {}
    for person_id, name in (Group.members.through.objects.filter(user_id__in=ids)
                            .values_list("user_id", "group__name")):
        held[person_id]["groups"].add(name)
    direct = Role.users.through.objects.filter(user_id__in=ids).values_list(
        "user_id", "role__name")
    through_groups = (Group.members.through.objects
                      .filter(user_id__in=ids, group__roles__isnull=False)
                      .values_list("user_id", "group__roles__name"))
    for person_id, name in direct.union(through_groups):
        held[person_id]["roles"].add(name)
    return {pk: {name: sorted(names) for name, names in sets.items()}
            for pk, sets in held.items()}


def user_data(person: User, before: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plain data scripts get as ``user`` (and attributes are mapped from).

    ``before`` gives earlier values of the person's own fields (``PERSON_SOURCES``)
    and of their ``groups`` and ``roles``, so the data as it was before a change can be
    computed and compared."""
    before = before or {}
    own = {name: getattr(person, name) for name in PERSON_SOURCES}
    own.update({name: value for name, value in before.items() if name in own})
    held = {name: before[name] for name in MEMBERSHIPS if name in before}
    if len(held) < len(MEMBERSHIPS):
        held = {**memberships(person), **held}
    return {
        "username": own["username"], "email": own["email"],
        "given_name": own["given_name"], "family_name": own["family_name"],
        "full_name": f"{own['given_name']} {own['family_name']}".strip(),
        "groups": held["groups"], "roles": held["roles"],
        "is_active": bool(own["is_active"]),
    }


def naming_field(system: System) -> str:
    """The person's field (``user_data`` key) that names their account on ``system``."""
    return "email" if system.account_name_from == NameSource.EMAIL else "username"


def account_name(system: System, person: User) -> str:
    return getattr(person, naming_field(system))


@dataclass
class Values:
    """One account's computed values: plain attributes, the main password, the others."""

    attributes: dict[str, Any] = field(default_factory=dict)
    password: Secret | None = None
    secret_attributes: dict[str, Secret] = field(default_factory=dict)


def mapped(system: System) -> list[MappedAttribute]:
    """The system's mapped attributes, in order; read once to compute many accounts'
    values (``values_for``'s ``items``)."""
    return list(MappedAttribute.objects.filter(system=system).order_by("id"))


def is_unmapped(system: System) -> bool:
    return not MappedAttribute.objects.filter(system=system).exists()


def has_password_attributes(system: System) -> bool:
    return MappedAttribute.objects.filter(system=system, is_password=True).exists()


def _refused(system: System, item: MappedAttribute, exc: Exception) -> MappingError:
    return MappingError(f"System {system.name!r}, attribute {item.name!r}: {exc}.")


def _passwords(system: System, items: Iterable[MappedAttribute], password: Secret | None,
               data: dict[str, Any], values: Values) -> None:
    for item in items:
        try:
            result = (scripts.evaluate_password(item.script, password=password, user=data)
                      if item.script else password)
        except scripts.ScriptError as exc:
            raise _refused(system, item, exc) from None
        if result is None:
            continue
        if item.name == PASSWORD:
            values.password = result
        else:
            values.secret_attributes[item.name] = result


def _plain_value(system: System, item: MappedAttribute, data: dict[str, Any]) -> Any:
    """One non-password attribute's value from ``data``; MappingError if its script fails."""
    given = data.get(item.source) if item.source else None
    try:
        if item.script:
            return scripts.evaluate(item.script, value=given, user=data)
    except scripts.ScriptError as exc:
        raise _refused(system, item, exc) from None
    return given if item.source else item.constant


def values_for(system: System, person: User, password: Secret | None, *,
               items: list[MappedAttribute] | None = None,
               held: Mapping[str, list[str]] | None = None) -> Values:
    """Every mapped attribute's value for ``person``; password attributes get ``password``
    (scripts receive it, or null when there is none). Raises MappingError at the first
    script that fails, naming the system and the attribute; nothing is logged.

    For many people at once, the caller reads the system's ``items`` (``mapped``) and
    each person's groups and roles (``held``, from ``memberships_many``) once, instead
    of once per person."""
    items = mapped(system) if items is None else items
    if not items:
        return Values(password=password)
    data = user_data(person, held)
    values = Values(attributes={item.name: _plain_value(system, item, data)
                                for item in items if not item.is_password})
    _passwords(system, [i for i in items if i.is_password], password, data, values)
    return values


def changed_values(system: System, before: dict[str, Any],
                   after: dict[str, Any]) -> dict[str, Any]:
    """The non-password attributes whose value from ``after`` (``user_data``) differs from
    the one from ``before``, with their new values. Raises MappingError when a script
    fails on ``after``; one that failed only on ``before`` counts as changed."""
    changed: dict[str, Any] = {}
    for item in mapped(system):
        if item.is_password:
            continue
        new = _plain_value(system, item, after)
        try:
            old = _plain_value(system, item, before)
        except MappingError:
            changed[item.name] = new
            continue
        if new != old:
            changed[item.name] = new
    return changed


def password_values(system: System, person: User, password: Secret) -> Values:
    """Only the password attributes, for a password change (no plain attributes)."""
    items = mapped(system)
    if not items:
        return Values(password=password)
    values = Values()
    _passwords(system, [i for i in items if i.is_password], password, user_data(person),
               values)
    return values

