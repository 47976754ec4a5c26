"""/api/v1/systems, /api/v1/password-policies, /api/v1/operations, /api/v1/archive.

Connected systems, their mapping and roles, the password policies they use, and
the provisioning queue with its archive. Every change goes through
``provisioning.systems`` and ``provisioning.services``, the functions the
console calls, so both doors decide, check and audit alike. Secrets are
write-only: no response holds a system's secret or a queued password.
"""

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Query, Router
from ninja.errors import HttpError
from ninja.pagination import paginate
from ninja.responses import Status

from keystead.api.auth import ScopedToken, actor
from keystead.api.pagination import Pages
from keystead.api.provisioning_schemas import (
    ArchivedOperationOut,
    ConnectionTestOut,
    MappingIn,
    MappingOut,
    OperationFilter,
    OperationOut,
    PasswordPolicyIn,
    PasswordPolicyOut,
    PasswordPolicyPatch,
    RolesIn,
    RolesOut,
    SchemaOut,
    SystemCreate,
    SystemOut,
    SystemPatch,
)
from keystead.api.routers.common import ERRORS, get_or_404
from keystead.api.schemas import RecordId
from keystead.directory.models import Role
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.provisioning import services, systems
from keystead.provisioning.models import (
    ArchivedOperation,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    SchemaAttribute,
    System,
)
from keystead.secret import Secret

router = Router(tags=["provisioning"])
read = ScopedToken("provisioning:read")
write = ScopedToken("provisioning:write")
POLICY_FIELDS = ("validation_policy", "generating_policy")


def _systems() -> QuerySet[System]:
    return System.objects.select_related("validation_policy", "generating_policy")


def _system(request: HttpRequest, system_id: int) -> System:
    system = get_or_404(_systems(), system_id, "system")
    systems.require_view(actor(request), request=request, system=system)
    return system


def _policy(name: str | None, field: str) -> PasswordPolicy | None:
    if name is None:
        return None
    found = PasswordPolicy.objects.filter(name=name).first()
    if found is None:
        raise RuleViolation([FieldProblem(field, f"No password policy is named {name!r}; "
                                                 "create it (POST /api/v1/password-"
                                                 "policies) or give null.")])
    return found


def _refused(exc: services.ProvisioningRefused | systems.TargetFailed) -> HttpError:
    return HttpError(409, str(exc))


# --- systems ---------------------------------------------------------------------------

@router.get("/systems", response={200: list[SystemOut], **ERRORS}, auth=read)
@paginate(Pages)
def list_systems(request: HttpRequest):
    """Connected systems by name, with flags, policies and the last reconciliation."""
    systems.require_view(actor(request), request=request)
    return _systems()


@router.post("/systems", response={201: SystemOut, **ERRORS}, auth=write)
def create_system(request: HttpRequest, payload: SystemCreate):
    """Add a system. ``secret`` is stored encrypted and never returned."""
    values = payload.dict(exclude={"secret"})
    for field in POLICY_FIELDS:
        values[field] = _policy(values[field], field)
    system = systems.create_system(
        System(**values), actor=actor(request), request=request,
        secret=Secret(payload.secret.get_secret_value()) if payload.secret else None)
    return Status(201, _systems().get(pk=system.pk))


@router.get("/systems/{system_id}", response={200: SystemOut, **ERRORS}, auth=read)
def get_system(request: HttpRequest, system_id: RecordId):
    return _system(request, system_id)


@router.patch("/systems/{system_id}", response={200: SystemOut, **ERRORS}, auth=write)
def update_system(request: HttpRequest, system_id: RecordId, payload: SystemPatch):
    """Change the fields given. ``secret`` replaces the stored secret, ``clear_secret:
    true`` removes it; leaving both out keeps it. ``null`` for a policy removes it."""
    system = get_or_404(_systems(), system_id, "system")
    given: dict[str, Any] = payload.dict(exclude_unset=True, exclude={"secret", "clear_secret"})
    nulls = [name for name, value in given.items()
             if value is None and name not in POLICY_FIELDS]
    if nulls:
        raise RuleViolation([FieldProblem(name, f"{name} must not be null; leave it out to "
                                                "keep the current value.") for name in nulls])
    for field in POLICY_FIELDS:
        if field in given:
            given[field] = _policy(given[field], field)
    for name, value in given.items():
        setattr(system, name, value)
    systems.change_system(
        system, actor=actor(request), request=request, clear_secret=payload.clear_secret,
        secret=Secret(payload.secret.get_secret_value()) if payload.secret else None)
    return _systems().get(pk=system.pk)


@router.delete("/systems/{system_id}", response={204: None, **ERRORS}, auth=write)
def delete_system(request: HttpRequest, system_id: RecordId):
    """Delete the system with its mapping, role links, accounts and queue."""
    system = get_or_404(_systems(), system_id, "system")
    systems.delete_system(system, actor=actor(request), request=request)
    return Status(204, None)


@router.post("/systems/{system_id}/test", response={200: ConnectionTestOut, **ERRORS},
             auth=read)
def test_connection(request: HttpRequest, system_id: RecordId):
    """Connect and check the settings. A failing connection is ``ok: false`` with the
    connector's message."""
    system = get_or_404(_systems(), system_id, "system")
    result = systems.test_connection(system, actor=actor(request), request=request)
    return {"ok": result.ok, "message": result.message}


def _schema(system: System) -> dict:
    return {"attributes": list(SchemaAttribute.objects.filter(system=system))}


@router.get("/systems/{system_id}/schema", response={200: SchemaOut, **ERRORS}, auth=read)
def get_schema(request: HttpRequest, system_id: RecordId):
    """The attributes last read from the system (empty until read)."""
    return _schema(_system(request, system_id))


@router.post("/systems/{system_id}/schema", response={200: SchemaOut, **ERRORS}, auth=write)
def read_schema(request: HttpRequest, system_id: RecordId):
    """Read the schema from the system now; 409 with the target's message if it fails."""
    system = get_or_404(_systems(), system_id, "system")
    try:
        systems.read_schema(system, actor=actor(request), request=request)
    except systems.TargetFailed as exc:
        raise _refused(exc) from None
    return _schema(system)


def _mapping(system: System) -> dict:
    return {"mapping": list(MappedAttribute.objects.filter(system=system).order_by("id"))}


@router.get("/systems/{system_id}/mapping", response={200: MappingOut, **ERRORS}, auth=read)
def get_mapping(request: HttpRequest, system_id: RecordId):
    return _mapping(_system(request, system_id))


@router.put("/systems/{system_id}/mapping", response={200: MappingOut, **ERRORS}, auth=write)
def replace_mapping(request: HttpRequest, system_id: RecordId, payload: MappingIn):
    """Replace the whole mapping. Every row is checked first; any problem refuses them
    all with a 400 naming the row and field (``mapping[2].is_password``)."""
    system = get_or_404(_systems(), system_id, "system")
    systems.replace_mapping(system, [row.dict() for row in payload.mapping],
                            actor=actor(request), request=request)
    return _mapping(system)


def _roles(system: System) -> dict:
    return {"roles": [{"id": r.pk, "name": r.name} for r in
                      Role.objects.filter(provisioned_systems__system=system).order_by("name")]}


@router.get("/systems/{system_id}/roles", response={200: RolesOut, **ERRORS}, auth=read)
def get_roles(request: HttpRequest, system_id: RecordId):
    """The roles that grant an account on the system."""
    return _roles(_system(request, system_id))


@router.put("/systems/{system_id}/roles", response={200: RolesOut, **ERRORS}, auth=write)
def replace_roles(request: HttpRequest, system_id: RecordId, payload: RolesIn):
    """Make these roles (ids or names) the ones that grant an account here: holders of an
    added role get their accounts, holders of a removed one lose them."""
    system = get_or_404(_systems(), system_id, "system")
    ids = [r for r in payload.roles if isinstance(r, int)]
    names = [r for r in payload.roles if isinstance(r, str)]
    found = list(Role.objects.filter(Q(pk__in=ids) | Q(name__in=names)))
    missing = ([str(i) for i in ids if i not in {r.pk for r in found}]
               + [n for n in names if n not in {r.name for r in found}])
    if missing:
        raise RuleViolation([FieldProblem("roles", f"No role {', '.join(missing)}; give "
                                                   "existing role ids or names.")])
    systems.set_roles(system, found, actor=actor(request), request=request)
    return _roles(system)


# --- password policies -------------------------------------------------------------------

@router.get("/password-policies", response={200: list[PasswordPolicyOut], **ERRORS}, auth=read)
@paginate(Pages)
def list_policies(request: HttpRequest):
    systems.require_view(actor(request), request=request)
    return PasswordPolicy.objects.order_by("name")


@router.post("/password-policies", response={201: PasswordPolicyOut, **ERRORS}, auth=write)
def create_policy(request: HttpRequest, payload: PasswordPolicyIn):
    policy = systems.save_policy(PasswordPolicy(**payload.dict()), actor=actor(request),
                                 request=request)
    return Status(201, policy)


@router.get("/password-policies/{policy_id}", response={200: PasswordPolicyOut, **ERRORS},
            auth=read)
def get_policy(request: HttpRequest, policy_id: RecordId):
    systems.require_view(actor(request), request=request)
    return get_or_404(PasswordPolicy.objects.all(), policy_id, "password policy")


@router.patch("/password-policies/{policy_id}", response={200: PasswordPolicyOut, **ERRORS},
              auth=write)
def update_policy(request: HttpRequest, policy_id: RecordId, payload: PasswordPolicyPatch):
    """Change the fields given; the others keep their value."""
    policy = get_or_404(PasswordPolicy.objects.all(), policy_id, "password policy")
    given = payload.dict(exclude_unset=True)
    nulls = [name for name, value in given.items() if value is None]
    if nulls:
        raise RuleViolation([FieldProblem(name, f"{name} must not be null; leave it out to "
                                                "keep the current value.") for name in nulls])
    for name, value in given.items():
        setattr(policy, name, value)
    return systems.save_policy(policy, actor=actor(request), request=request)


@router.delete("/password-policies/{policy_id}", response={204: None, **ERRORS}, auth=write)
def delete_policy(request: HttpRequest, policy_id: RecordId):
    """Delete a policy no system uses (409 naming the systems otherwise)."""
    policy = get_or_404(PasswordPolicy.objects.all(), policy_id, "password policy")
    try:
        systems.delete_policy(policy, actor=actor(request), request=request)
    except services.ProvisioningRefused as exc:
        raise _refused(exc) from None
    return Status(204, None)


# --- the queue and the archive -----------------------------------------------------------

def _filtered(rows: QuerySet, filters: OperationFilter) -> QuerySet:
    if filters.system:
        rows = rows.filter(system_id=int(filters.system)) if filters.system.isdigit() \
            and len(filters.system) < 19 else rows.filter(system__name=filters.system)
    if filters.state:
        rows = rows.filter(state=filters.state)
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.account:
        rows = rows.filter(account_name__icontains=filters.account)
    return rows


@router.get("/operations", response={200: list[OperationOut], **ERRORS}, auth=read)
@paginate(Pages)
def list_operations(request: HttpRequest, filters: Query[OperationFilter]):
    """Open operations, oldest first, filtered by system (id or name), state, kind or
    part of the account name."""
    systems.require_view(actor(request), request=request)
    return _filtered(Operation.objects.select_related("system").order_by("id"), filters)


@router.get("/operations/{operation_id}", response={200: OperationOut, **ERRORS}, auth=read)
def get_operation(request: HttpRequest, operation_id: RecordId):
    systems.require_view(actor(request), request=request)
    found = Operation.objects.select_related("system").filter(pk=operation_id).first()
    if found is None:
        raise HttpError(404, f"No open operation with id {operation_id}; ended operations are "
                             "in /api/v1/archive.")
    return found


def _operation_after(operation_id: int) -> Operation | None:
    return Operation.objects.select_related("system").filter(pk=operation_id).first()


@router.post("/operations/{operation_id}/retry", response={200: OperationOut, **ERRORS},
             auth=write)
def retry_operation(request: HttpRequest, operation_id: RecordId):
    """Run an operation in exception or not executed again now; 409 says why not."""
    try:
        services.retry(operation_id, actor=actor(request), request=request)
    except services.ProvisioningRefused as exc:
        raise _refused(exc) from None
    found = _operation_after(operation_id)
    if found is None:  # a worker finished it already
        raise HttpError(404, f"Operation {operation_id} ended already; see /api/v1/archive.")
    return found


@router.post("/operations/{operation_id}/cancel", response={200: ArchivedOperationOut,
                                                              **ERRORS}, auth=write)
def cancel_operation(request: HttpRequest, operation_id: RecordId):
    """Cancel an operation that is not running: it moves to the archive, its password
    erased. Answers with the archived operation."""
    try:
        services.cancel(operation_id, actor=actor(request), request=request)
    except services.ProvisioningRefused as exc:
        raise _refused(exc) from None
    return ArchivedOperation.objects.select_related("system").get(operation_id=operation_id)


@router.get("/archive", response={200: list[ArchivedOperationOut], **ERRORS}, auth=read)
@paginate(Pages)
def list_archive(request: HttpRequest, filters: Query[OperationFilter]):
    """Operations that ended (executed or cancelled), newest first, with the same
    filters as the queue."""
    systems.require_view(actor(request), request=request)
    return _filtered(ArchivedOperation.objects.select_related("system")
                     .order_by("-ended_at", "-operation_id"), filters)
