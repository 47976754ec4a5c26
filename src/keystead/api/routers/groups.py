"""/api/v1/groups: directory groups and their members."""

from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Query, Router
from ninja.pagination import paginate
from ninja.responses import Status

from keystead.api.auth import ScopedToken, actor
from keystead.api.pagination import Pages
from keystead.api.routers.common import ERRORS, get_or_404
from keystead.api.schemas import (
    LISTED_MEMBERS,
    GroupCreate,
    GroupListItem,
    GroupOut,
    GroupPatch,
    ListQuery,
    MembersChange,
    RecordId,
)
from keystead.directory import services
from keystead.directory.models import Group

router = Router(tags=["groups"])
read = ScopedToken("groups:read")
write = ScopedToken("groups:write")


def _groups():
    return Group.objects.prefetch_related("members")


@router.get("/groups", response={200: list[GroupListItem], **ERRORS}, auth=read)
@paginate(Pages)
def list_groups(request: HttpRequest, query: Query[ListQuery]):
    """Groups by name; `q` searches the names, `members=false` leaves the members out."""
    groups = Group.objects.all()
    if query.q:
        groups = groups.filter(name__icontains=query.q)
    if query.members:
        # One statement for the members of the whole page, whatever its size.
        groups = groups.prefetch_related(Prefetch("members", to_attr=LISTED_MEMBERS))
    return groups


@router.post("/groups", response={201: GroupOut, **ERRORS}, auth=write)
def create_group(request: HttpRequest, payload: GroupCreate):
    group = services.save_group(
        None, name=payload.name, description=payload.description,
        external_id=payload.external_id, member_ids=payload.member_ids,
        actor=actor(request), request=request, door="api",
    )
    return Status(201, _groups().get(pk=group.pk))


@router.get("/groups/{group_id}", response={200: GroupOut, **ERRORS}, auth=read)
def get_group(request: HttpRequest, group_id: RecordId):
    return get_or_404(_groups(), group_id, "group")


@router.patch("/groups/{group_id}", response={200: GroupOut, **ERRORS}, auth=write)
def update_group(request: HttpRequest, group_id: RecordId, payload: GroupPatch):
    group = get_or_404(Group.objects.all(), group_id, "group")
    services.save_group(group, **payload.dict(exclude_unset=True), actor=actor(request),
                        request=request, door="api")
    return _groups().get(pk=group.pk)


@router.post("/groups/{group_id}/members", response={200: GroupOut, **ERRORS}, auth=write)
def change_members(request: HttpRequest, group_id: RecordId, payload: MembersChange):
    """Add and remove members in one call, without resending the whole list."""
    group = get_or_404(Group.objects.all(), group_id, "group")
    services.change_group_members(
        group, add=payload.add, remove=payload.remove, actor=actor(request), request=request,
        door="api",
    )
    return _groups().get(pk=group.pk)


@router.delete("/groups/{group_id}", response={204: None, **ERRORS}, auth=write)
def delete_group(request: HttpRequest, group_id: RecordId):
    group = get_or_404(Group.objects.all(), group_id, "group")
    services.delete_group(group, actor=actor(request), request=request, door="api")
    return Status(204, None)
