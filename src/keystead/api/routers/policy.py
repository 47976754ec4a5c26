"""/api/v1/policy and /api/v1/groups/{id}/policy: the logon policy.

The installation has one policy; a group may have a stricter one of its own.
For each rule a member gets the strictest value of the installation's policy
and the policies of all their groups. Values are checked, and changes
audited, by ``keystead.policy.changes``, the same code the admin console and
``keystead policy set`` use.
"""

from typing import Any

from django.http import HttpRequest
from ninja import Router
from ninja.errors import HttpError
from ninja.responses import Status

from keystead.api.auth import ScopedToken, actor
from keystead.api.routers.common import ERRORS, get_or_404
from keystead.api.schemas import (
    GroupPolicyOut,
    InstallationPolicyOut,
    PolicySettingsIn,
    PolicySettingsPatch,
    RecordId,
)
from keystead.directory.models import Group
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.policy import changes
from keystead.policy.models import GroupPolicy, LogonPolicy

router = Router(tags=["policy"])
read = ScopedToken("policy:read")
write = ScopedToken("policy:write")
DOOR = "api"


def _given(payload: PolicySettingsPatch) -> dict[str, Any]:
    """The settings a PATCH names; an explicit null is a mistake worth saying so."""
    given = payload.dict(exclude_unset=True)
    nulls = [name for name, value in given.items() if value is None]
    if nulls:
        raise RuleViolation([FieldProblem(name, f"{name} must not be null; leave it out to "
                                                "keep the current value.") for name in nulls])
    return given


@router.get("/policy", response={200: InstallationPolicyOut, **ERRORS}, auth=read)
def get_policy(request: HttpRequest):
    """The installation's logon policy."""
    return LogonPolicy.current()


@router.put("/policy", response={200: InstallationPolicyOut, **ERRORS}, auth=write)
def replace_policy(request: HttpRequest, payload: PolicySettingsIn):
    """Set every setting of the installation's policy."""
    policy, _ = changes.update_installation_policy(payload.dict(), actor=actor(request),
                                                  request=request, door=DOOR)
    return policy


@router.patch("/policy", response={200: InstallationPolicyOut, **ERRORS}, auth=write)
def update_policy(request: HttpRequest, payload: PolicySettingsPatch):
    """Change the settings given; the others keep their value."""
    policy, _ = changes.update_installation_policy(_given(payload), actor=actor(request),
                                                  request=request, door=DOOR)
    return policy


def _group(group_id: int) -> Group:
    return get_or_404(Group.objects.all(), group_id, "group")


def _group_policy(group: Group) -> GroupPolicy:
    policy = GroupPolicy.objects.select_related("group").filter(group=group).first()
    if policy is None:
        raise HttpError(404, f"Group {group.pk} ({group.name}) has no logon policy of its own; "
                             "the installation's applies. PUT or PATCH one to create it.")
    return policy


@router.get("/groups/{group_id}/policy", response={200: GroupPolicyOut, **ERRORS}, auth=read)
def get_group_policy(request: HttpRequest, group_id: RecordId):
    """The group's own policy (404 if it has none)."""
    return _group_policy(_group(group_id))


@router.put("/groups/{group_id}/policy",
            response={200: GroupPolicyOut, 201: GroupPolicyOut, **ERRORS}, auth=write)
def replace_group_policy(request: HttpRequest, group_id: RecordId, payload: PolicySettingsIn):
    """Create the group's policy (201) or replace every setting of it (200)."""
    policy, created, _ = changes.save_group_policy(
        _group(group_id), payload.dict(), actor=actor(request), request=request, door=DOOR)
    return Status(201 if created else 200, policy)


@router.patch("/groups/{group_id}/policy",
              response={200: GroupPolicyOut, 201: GroupPolicyOut, **ERRORS}, auth=write)
def update_group_policy(request: HttpRequest, group_id: RecordId,
                        payload: PolicySettingsPatch):
    """Change the settings given. A group without a policy gets one (201) that starts
    from the installation's values, so name only the rules the group tightens."""
    policy, created, _ = changes.save_group_policy(
        _group(group_id), _given(payload), actor=actor(request), request=request, door=DOOR)
    return Status(201 if created else 200, policy)


@router.delete("/groups/{group_id}/policy", response={204: None, **ERRORS}, auth=write)
def delete_group_policy(request: HttpRequest, group_id: RecordId):
    """Remove the group's policy; its members get the installation's again."""
    changes.delete_group_policy(_group_policy(_group(group_id)), actor=actor(request),
                                request=request, door=DOOR)
    return Status(204, None)
