"""/api/v1/roles: named bundles held by users directly or through groups."""

from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Query, Router
from ninja.pagination import paginate
from ninja.responses import Status

from keystead.api.auth import ScopedToken, actor
from keystead.api.pagination import Pages
from keystead.api.routers.common import ERRORS, get_or_404
from keystead.api.schemas import (
    LISTED_GROUPS,
    LISTED_USERS,
    ListQuery,
    RecordId,
    RoleCreate,
    RoleListItem,
    RoleOut,
    RolePatch,
)
from keystead.directory import services
from keystead.directory.models import Role

router = Router(tags=["roles"])
read = ScopedToken("roles:read")
write = ScopedToken("roles:write")


def _roles():
    return Role.objects.prefetch_related("users", "groups")


@router.get("/roles", response={200: list[RoleListItem], **ERRORS}, auth=read)
@paginate(Pages)
def list_roles(request: HttpRequest, query: Query[ListQuery]):
    """Roles by name; `q` searches the names, `members=false` leaves out who holds them."""
    roles = Role.objects.all()
    if query.q:
        roles = roles.filter(name__icontains=query.q)
    if query.members:
        # One statement each for the users and the groups of the whole page.
        roles = roles.prefetch_related(Prefetch("users", to_attr=LISTED_USERS),
                                       Prefetch("groups", to_attr=LISTED_GROUPS))
    return roles


@router.post("/roles", response={201: RoleOut, **ERRORS}, auth=write)
def create_role(request: HttpRequest, payload: RoleCreate):
    role = services.save_role(
        None, name=payload.name, description=payload.description,
        user_ids=payload.user_ids, group_ids=payload.group_ids, actor=actor(request),
        request=request, door="api",
    )
    return Status(201, _roles().get(pk=role.pk))


@router.get("/roles/{role_id}", response={200: RoleOut, **ERRORS}, auth=read)
def get_role(request: HttpRequest, role_id: RecordId):
    return get_or_404(_roles(), role_id, "role")


@router.patch("/roles/{role_id}", response={200: RoleOut, **ERRORS}, auth=write)
def update_role(request: HttpRequest, role_id: RecordId, payload: RolePatch):
    role = get_or_404(Role.objects.all(), role_id, "role")
    services.save_role(role, **payload.dict(exclude_unset=True), actor=actor(request),
                       request=request, door="api")
    return _roles().get(pk=role.pk)


@router.delete("/roles/{role_id}", response={204: None, **ERRORS}, auth=write)
def delete_role(request: HttpRequest, role_id: RecordId):
    role = get_or_404(Role.objects.all(), role_id, "role")
    services.delete_role(role, actor=actor(request), request=request, door="api")
    return Status(204, None)
