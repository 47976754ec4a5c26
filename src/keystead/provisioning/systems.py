"""Connected systems as every door changes them: authorized, validated and audited.

The console (``provisioning.admin``) and the REST API (``api.routers.provisioning``)
call these functions, so both give the same answer to the same request: who may
do it (``services.require_system_change`` and the view / add / delete
permissions), whether the connector can use the settings, whether a mapping
holds together, and which audit Event it leaves. A system's secret is
write-only: it is set, kept or cleared here and never returned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.http import HttpRequest

from keystead import json_text
from keystead.directory import audit
from keystead.directory.authorization import Actor, NotAllowed, require_permission
from keystead.directory.models import Role
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.provisioning import mapping, services
from keystead.provisioning.connectors import ConnectorError, connector_for
from keystead.provisioning.models import (
    MappedAttribute,
    PasswordPolicy,
    RoleSystem,
    SchemaAttribute,
    System,
)
from keystead.secret import Secret

log = logging.getLogger(__name__)

VIEW_SYSTEMS = "provisioning.view_system"
ADD_SYSTEMS = "provisioning.add_system"
DELETE_SYSTEMS = "provisioning.delete_system"
CHANGE_POLICIES = "provisioning.change_passwordpolicy"

#: The secret each connector type uses.
SECRET_NAMES = {"ldap": "bind_password", "sql": "password", "ad": "bind_password",
                "scim": "bearer_token"}
#: A system's own fields besides its flags (``services.FLAGS``), which change through
#: ``services.change_flags``.
FIELDS = ("name", "connector", "settings", "validation_policy", "generating_policy",
          "account_name_from", "on_role_removal")
MAPPING_FIELDS = ("name", "is_password", "source", "constant", "script")


def require_view(actor: Actor, *, request: HttpRequest | None = None,
                 system: System | None = None) -> None:
    """Reading systems, their mapping and the queue needs ``provisioning.view_system``
    (or the change permission, which the console treats as including it)."""
    if services.CHANGE_SYSTEMS in actor.permissions:
        return
    require_permission(actor, VIEW_SYSTEMS, "view connected systems",
                       event="provisioning.system.view", request=request,
                       detail={"system": system.name} if system else {})


# -- settings and the secret --------------------------------------------------------------

def settings_problem(system: System) -> str | None:
    """Why the system's connector cannot start with its settings, or None.

    The connector is made (not connected) as the worker would make it; a connector
    that cannot even be made would fail every operation, so the system is refused.
    """
    if not isinstance(system.settings, dict):
        return 'Give a JSON object, such as {"url": "ldap://…"}.'
    if (where := json_text.unstorable_in(system.settings, "settings")) is not None:
        return json_text.problem_text(where)
    if (where := json_text.not_finite_in(system.settings, "settings")) is not None:
        return f"{where} is NaN or infinite, which JSON cannot hold; give a number."
    try:
        connector_for(system).close()
    except ConnectorError as exc:
        return str(exc)
    except (ValueError, TypeError, LookupError, ArithmeticError) as exc:
        return (f"The {system.connector} connector cannot use these settings "
                f"({type(exc).__name__}: {exc}); see docs/provisioning-connectors.md.")
    except Exception as exc:  # a client library refusing the settings (a URL scheme)
        return (f"The {system.connector} connector cannot use these settings "
                f"({type(exc).__name__}); see docs/provisioning-connectors.md.")
    return None


def _apply_secret(system: System, secret: Secret | None, clear: bool) -> bool:
    """Set, keep (no secret given) or clear the system's secret; whether it changed."""
    if clear and secret:
        raise RuleViolation([FieldProblem(
            "clear_secret", "Give a new secret or remove the stored one, not both.")])
    if clear:
        changed = bool(system.secrets_encrypted)
        system.set_secrets({})
        return changed
    if secret:
        name = SECRET_NAMES.get(system.connector, "secret")
        system.set_secrets({**system.secrets(), name: Secret(secret)})
        return True
    return False


def _problems(error: ValidationError, whole: str = "system") -> list[FieldProblem]:
    """A model's ValidationError as FieldProblems; errors of the whole record (a
    constraint over several fields) are named ``whole``."""
    if hasattr(error, "error_dict"):
        return [FieldProblem(field if field != "__all__" else whole, " ".join(messages))
                for field, messages in error.message_dict.items()]
    return [FieldProblem(whole, " ".join(error.messages))]


def _validate(system: System) -> None:
    """Model rules (required, lengths, choices, a unique name), then the connector's."""
    problems: list[FieldProblem] = []
    try:
        system.full_clean(exclude=["secrets_encrypted"])
    except ValidationError as error:
        problems = _problems(error)
    if not any(p.field in ("connector", "settings") for p in problems):
        problem = settings_problem(system)
        if problem:
            problems.append(FieldProblem("settings", problem))
    if problems:
        raise RuleViolation(problems)


# -- systems ------------------------------------------------------------------------------

def create_system(system: System, *, actor: Actor, secret: Secret | None = None,
                  request: HttpRequest | None = None) -> System:
    """Save a new ``system`` (its fields and flags set, not yet saved) with ``secret``."""
    detail = {"system": system.name}
    services.require_system_change(actor, event="provisioning.system.create", request=request,
                                   detail=detail)
    require_permission(actor, ADD_SYSTEMS, "add connected systems",
                       event="provisioning.system.create", request=request, detail=detail)
    _apply_secret(system, secret, False)
    _validate(system)
    with transaction.atomic():
        system.save()
        audit.record("provisioning.system.create", request=request, actor=actor.user,
                     actor_label=actor.label, target=system,
                     detail={"connector": system.connector, "secret_set": bool(secret)})
    return system


def change_system(system: System, *, actor: Actor, secret: Secret | None = None,
                  clear_secret: bool = False, request: HttpRequest | None = None) -> list[str]:
    """Store what changed on ``system`` (a saved system whose fields and flags were set to
    the new values): its fields, its secret (``secret`` sets it, ``clear_secret`` removes
    it, neither keeps it) and, through ``services.change_flags``, its flags. Returns the
    names that changed; nothing is stored if anything is refused."""
    services.require_system_change(actor, event="provisioning.system.change", request=request,
                                   detail={"system": system.name})
    with transaction.atomic():
        # The row stays locked until the change is stored: the secret is merged into
        # the stored one, never into a copy read before another change.
        stored = System.objects.select_for_update().get(pk=system.pk)
        system.secrets_encrypted = stored.secrets_encrypted
        secret_changed = _apply_secret(system, secret, clear_secret)
        _validate(system)
        fields = [name for name in FIELDS
                  if getattr(system, f"{name}_id" if name.endswith("_policy") else name)
                  != getattr(stored, f"{name}_id" if name.endswith("_policy") else name)]
        if fields or secret_changed:
            columns = fields + (["secrets_encrypted"] if secret_changed else [])
            system.save(update_fields=[*columns, "updated_at"])
            audit.record("provisioning.system.change", request=request, actor=actor.user,
                         actor_label=actor.label, target=system,
                         detail={"changed": fields, "secret_changed": secret_changed})
        flagged = services.change_flags(
            system, actor=actor, request=request,
            **{name: getattr(system, name) for name in services.FLAGS})
    return fields + (["secret"] if secret_changed else []) + flagged


def delete_system(system: System, *, actor: Actor, request: HttpRequest | None = None) -> None:
    """Delete ``system`` with its mapping, role links, accounts and queue (the targets keep
    their accounts; nothing more is sent)."""
    detail = {"system": system.name}
    services.require_system_change(actor, event="provisioning.system.delete", request=request,
                                   detail=detail)
    require_permission(actor, DELETE_SYSTEMS, "delete connected systems",
                       event="provisioning.system.delete", request=request, detail=detail)
    with transaction.atomic():
        audit.record("provisioning.system.delete", request=request, actor=actor.user,
                     actor_label=actor.label, target=system,
                     detail={"connector": system.connector,
                             "open_operations": system.operations.count()})
        system.delete()


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    message: str


def test_connection(system: System, *, actor: Actor,
                    request: HttpRequest | None = None) -> ConnectionTest:
    """Connect to the system and check its settings; a failure is an answer, not an error.
    The message is the connector's, which never holds a secret."""
    require_view(actor, request=request, system=system)
    try:
        connector = connector_for(system)
        try:
            connector.test()
        finally:
            connector.close()
    except ConnectorError as exc:
        return ConnectionTest(False, f"{system.name}: {exc}")
    except Exception as exc:  # the client library failed before the connector could say
        log.warning("connection test of %s failed: %s", system.name, type(exc).__name__)
        return ConnectionTest(False, f"{system.name}: the connection failed "
                                     f"({type(exc).__name__}: {exc}).")
    return ConnectionTest(True, f"{system.name}: connection works.")


class TargetFailed(ValueError):
    """The target could not be asked (unreachable, refused); the message says why."""


def read_schema(system: System, *, actor: Actor, request: HttpRequest | None = None) -> int:
    """``mapping.read_schema``, with the target's failure as ``TargetFailed``."""
    try:
        return mapping.read_schema(system, actor=actor, request=request)
    except ConnectorError as exc:
        raise TargetFailed(f"{system.name}: {exc}") from None
    except (NotAllowed, DatabaseError):
        raise
    except Exception as exc:  # the client library failed before the connector could say
        log.warning("schema read of %s failed: %s", system.name, type(exc).__name__)
        raise TargetFailed(f"{system.name}: the schema could not be read "
                           f"({type(exc).__name__}: {exc}).") from None


# -- mapping ------------------------------------------------------------------------------

def mapping_row_problems(rows: list[Mapping[str, Any]], schema: Iterable[str],
                         prefix: str = "mapping") -> list[FieldProblem]:
    """Every problem of a whole mapping, each naming its row and field
    (``mapping[2].is_password``): ``mapping.mapping_problems`` per row, and names
    given twice."""
    known = list(schema)
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        where = f"{prefix}[{index}]"
        name = row.get("name") or ""
        if not name.strip():
            problems.append(FieldProblem(f"{where}.name", "Give the system attribute's name."))
            continue
        if name in seen:
            problems.append(FieldProblem(f"{where}.name", f"{name!r} is mapped twice; keep one "
                                                          "row for it."))
        seen.add(name)
        found = mapping.mapping_problems(
            name=name, is_password=bool(row.get("is_password")), source=row.get("source") or "",
            constant=row.get("constant") or "", script=row.get("script") or "", schema=known)
        problems += [FieldProblem(f"{where}.{field}", message)
                     for field, message in found.items()]
    return problems


def replace_mapping(system: System, rows: list[Mapping[str, Any]], *, actor: Actor,
                    request: HttpRequest | None = None) -> list[MappedAttribute]:
    """Replace the system's whole mapping with ``rows`` (dicts of ``MAPPING_FIELDS``):
    all rows are checked first, and a problem in any refuses them all."""
    services.require_system_change(actor, event="provisioning.mapping.change", request=request,
                                   detail={"system": system.name})
    schema = SchemaAttribute.objects.filter(system=system).values_list("name", flat=True)
    problems = mapping_row_problems(rows, schema)
    items = [MappedAttribute(system=system, name=row.get("name") or "",
                             is_password=bool(row.get("is_password")),
                             source=row.get("source") or "", constant=row.get("constant") or "",
                             script=row.get("script") or "") for row in rows]
    if not problems:
        for index, item in enumerate(items):
            try:
                item.full_clean(exclude=["system"], validate_unique=False)
            except ValidationError as error:
                problems += [FieldProblem(f"mapping[{index}].{p.field}", p.message)
                             for p in _problems(error)]
    if problems:
        raise RuleViolation(problems)
    with transaction.atomic():
        System.objects.select_for_update().filter(pk=system.pk).first()
        before = list(MappedAttribute.objects.filter(system=system).order_by("id")
                      .values(*MAPPING_FIELDS))
        MappedAttribute.objects.filter(system=system).delete()
        saved = MappedAttribute.objects.bulk_create(items)
        after = [{f: getattr(item, f) for f in MAPPING_FIELDS} for item in items]
        if before != after:
            names_before = {row["name"]: row for row in before}
            changed = sorted({row["name"] for row in after if names_before.get(row["name"]) != row}
                             | (set(names_before) - {row["name"] for row in after}))
            audit.record("provisioning.mapping.change", request=request, actor=actor.user,
                         actor_label=actor.label, target=system, detail={"changed": changed})
    return saved


def mapping_changed(system: System, changed: list[str], *, actor: Actor,
                    request: HttpRequest | None = None) -> None:
    """Audit a mapping the console's inline table changed (it saved the rows itself,
    each checked by ``mapping.mapping_problems`` in its form)."""
    if changed:
        audit.record("provisioning.mapping.change", request=request, actor=actor.user,
                     actor_label=actor.label, target=system, detail={"changed": changed})


# -- roles --------------------------------------------------------------------------------

def roles_changed(system: System, added: list[Role], removed: list[Role], *, actor: Actor,
                  request: HttpRequest | None = None) -> None:
    """After role links were added or removed: audit it, give the holders of a newly
    linked role their accounts, and let holders of an unlinked one lose theirs (unless
    another role still grants it)."""
    from keystead.provisioning import roles

    if not (added or removed):
        return
    audit.record("provisioning.roles.change", request=request, actor=actor.user,
                 actor_label=actor.label, target=system,
                 detail={"changed": sorted(r.name for r in [*added, *removed]),
                         "added": sorted(r.name for r in added),
                         "removed": sorted(r.name for r in removed)})
    for role in added:
        roles.role_granted(role, list(roles.holders(role)))
    for role in removed:
        roles.follow([system], list(roles.holders(role)))


def set_roles(system: System, wanted: list[Role], *, actor: Actor,
              request: HttpRequest | None = None) -> list[Role]:
    """Make ``wanted`` the roles that grant an account on ``system``; holders of added
    roles get accounts, holders of removed ones lose them. All in one transaction: a
    script that fails for one person refuses the whole change."""
    services.require_system_change(actor, event="provisioning.roles.change", request=request,
                                   detail={"system": system.name})
    with transaction.atomic():
        System.objects.select_for_update().filter(pk=system.pk).first()
        current = {link.role_id: link.role for link in
                   RoleSystem.objects.filter(system=system).select_related("role")}
        wanted_ids = {role.pk: role for role in wanted}
        added = [role for pk, role in wanted_ids.items() if pk not in current]
        removed = [role for pk, role in current.items() if pk not in wanted_ids]
        RoleSystem.objects.filter(system=system, role__in=removed).delete()
        RoleSystem.objects.bulk_create([RoleSystem(system=system, role=r) for r in added])
        roles_changed(system, added, removed, actor=actor, request=request)
    return sorted(wanted_ids.values(), key=lambda r: r.name)


# -- password policies ----------------------------------------------------------------------

def policy_problems(values: Mapping[str, Any]) -> list[FieldProblem]:
    """What is wrong with a password policy's lengths and minimums beyond each field's
    own range: the rule the console's form and the API share."""
    problems = []
    minimums = sum(values.get(name) or 0 for name in (
        "min_lowercase", "min_uppercase", "min_digits", "min_symbols"))
    if values.get("max_length") and minimums > values["max_length"]:
        problems.append(FieldProblem("max_length", f"The character minimums add up to "
                                                   f"{minimums}; raise the maximum length or "
                                                   "lower a minimum."))
    if (values.get("min_length") and values.get("max_length")
            and values["min_length"] > values["max_length"]):
        problems.append(FieldProblem("min_length", "Must not exceed the maximum length."))
    return problems


POLICY_FIELDS = ("name", "min_length", "max_length", "min_lowercase", "min_uppercase",
                 "min_digits", "min_symbols", "generated_length", "default_for_generation")


def save_policy(policy: PasswordPolicy, *, actor: Actor,
                request: HttpRequest | None = None) -> PasswordPolicy:
    """Create or change a password policy (its fields set, not yet saved), audited."""
    creating = policy.pk is None
    event = "provisioning.policy.create" if creating else "provisioning.policy.change"
    require_permission(actor, "provisioning.add_passwordpolicy" if creating else CHANGE_POLICIES,
                       "create password policies" if creating else "change password policies",
                       event=event, request=request, detail={"policy": policy.name})
    problems: list[FieldProblem] = []
    try:
        policy.full_clean()
    except ValidationError as error:  # the one constraint over the whole record: one default
        problems = _problems(error, "default_for_generation")
    problems += [p for p in policy_problems({f: getattr(policy, f) for f in POLICY_FIELDS})
                 if p.field not in {q.field for q in problems}]
    if problems:
        raise RuleViolation(problems)
    stored = None if creating else PasswordPolicy.objects.get(pk=policy.pk)
    changed = [f for f in POLICY_FIELDS if stored is None or getattr(stored, f) != getattr(
        policy, f)]
    with transaction.atomic():
        policy.save()
        audit.record(event, request=request, actor=actor.user, actor_label=actor.label,
                     target=policy, detail={"changed": changed})
    return policy


def delete_policy(policy: PasswordPolicy, *, actor: Actor,
                  request: HttpRequest | None = None) -> None:
    """Delete a policy no system uses (a system's policy is refused, naming the systems)."""
    require_permission(actor, "provisioning.delete_passwordpolicy", "delete password policies",
                       event="provisioning.policy.delete", request=request,
                       detail={"policy": policy.name})
    users = sorted(System.objects.filter(validation_policy=policy).values_list("name", flat=True)
                   .union(System.objects.filter(generating_policy=policy)
                          .values_list("name", flat=True)))
    if users:
        raise services.ProvisioningRefused(
            f"policy: {policy.name!r} is used by {', '.join(users)}; choose another policy "
            "on those systems first.")
    with transaction.atomic():
        audit.record("provisioning.policy.delete", request=request, actor=actor.user,
                     actor_label=actor.label, target=policy, detail={"policy": policy.name})
        policy.delete()
