"""SCIM Groups ↔ directory groups: rendering, reading payloads, and writes through the services.

Members are users only (Keystead has no nested groups). A PATCH that touches
only members goes through ``change_group_members``, so adding one person to a
large group is recorded as exactly that in the audit log.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest

from keystead.api.scim.auth import actor
from keystead.api.scim.endpoint import location, timestamp, version_of
from keystead.api.scim.errors import GROUP_FIELDS, invalid_value
from keystead.api.scim.projection import Projection
from keystead.api.scim.queries import MAX_ID, Column, ColumnMap
from keystead.api.scim.resources import DOOR, ResourceKind
from keystead.api.scim.schemas import GROUP, GROUP_SCHEMA
from keystead.directory import services
from keystead.directory.models import Group, User
from keystead.directory.rules import FieldProblem
from keystead.secret import Secret

_MEMBER = Column("members__pk", "id", multi=True)

COLUMNS: ColumnMap = {
    "id": Column("pk", "id"),
    "displayname": Column("name"),
    "externalid": Column("external_id", case_exact=True),
    "members": _MEMBER,
    "members.value": _MEMBER,
    "meta.created": Column("created_at", "datetime"),
    "meta.lastmodified": Column("updated_at", "datetime"),
    "meta.resourcetype": Column(kind="const", const="Group", case_exact=True),
}


def _member_id(member: Any) -> int:
    if not isinstance(member, dict):
        raise invalid_value('members must be a list of objects like {"value": "<user id>"}.')
    kind = member.get("type")
    if kind is not None and str(kind).lower() != "user":
        raise invalid_value("members: only users can be members; Keystead has no nested groups.")
    value = member.get("value")
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise invalid_value(f"members: {str(value)[:64]!r} is not a user id.")
    if int(text) > MAX_ID:
        raise services.RuleViolation([FieldProblem("members", f"No user with id {text}.")])
    return int(text)


def group_values(doc: dict[str, Any]) -> tuple[str, str, list[int]]:
    """(name, externalId, member ids) from a SCIM Group document, type-checked."""
    name = doc.get("displayName")
    if name is not None and not isinstance(name, str):
        raise invalid_value("displayName must be a string.")
    external_id = doc.get("externalId")
    if external_id is not None and not isinstance(external_id, str):
        raise invalid_value("externalId must be a string.")
    members = doc.get("members") or []
    if not isinstance(members, list):
        raise invalid_value('members must be a list of objects like {"value": "<user id>"}.')
    ids = list(dict.fromkeys(_member_id(m) for m in members))
    return name or "", external_id or "", ids


class GroupKind(ResourceKind[Group]):
    schema = GROUP
    columns = COLUMNS
    noun = "group"
    field_paths = GROUP_FIELDS

    def queryset(self, projection: Projection | None = None) -> QuerySet[Group]:
        query = Group.objects.all()
        if projection is None or projection.wants("members"):
            query = query.prefetch_related(Prefetch(
                "members",
                queryset=User.objects.only("pk", "given_name", "family_name").order_by("pk"),
            ))
        return query

    def render(self, obj: Group, projection: Projection | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": str(obj.pk)}
        if obj.external_id:
            doc["externalId"] = obj.external_id
        doc["displayName"] = obj.name
        with_members = projection is None or projection.wants("members")
        if with_members:
            members = list(obj.members.all())
            if members:
                doc["members"] = [
                    {"value": str(u.pk), "$ref": location("/Users", u.pk),
                     "display": u.full_name, "type": "User"}
                    for u in members
                ]
        doc["meta"] = {
            "resourceType": "Group",
            "created": timestamp(obj.created_at),
            "lastModified": timestamp(obj.updated_at),
            "location": location("/Groups", obj.pk),
        }
        if with_members:
            # The version covers the members. A list that leaves them out (Entra ID asks
            # with excludedAttributes=members, to keep big groups cheap) shows no version
            # rather than one that GET and If-Match would not recognise (RFC 7644 §3.14).
            doc["meta"]["version"] = version_of(doc)
        return doc

    def create(self, doc: dict[str, Any], secrets: dict[str, Secret],
               request: HttpRequest) -> Group:
        try:
            name, external_id, member_ids = group_values(doc)
            return services.save_group(None, name=name, external_id=external_id,
                                       member_ids=member_ids, actor=actor(request),
                                       request=request, door=DOOR)
        except services.RuleViolation as exc:
            raise self.rule_error(exc) from None

    def save(self, obj: Group, before: dict[str, Any], after: dict[str, Any],
             secrets: dict[str, Secret], request: HttpRequest) -> None:
        try:
            name, external_id, member_ids = group_values(after)
            _, _, old_ids = group_values(before)
            renamed = name != obj.name or external_id != obj.external_id
            if renamed:
                services.save_group(obj, name=name, external_id=external_id,
                                    actor=actor(request), request=request, door=DOOR)
            old_set, new_set = set(old_ids), set(member_ids)
            added = [i for i in member_ids if i not in old_set]
            removed = [i for i in old_ids if i not in new_set]
            if added or removed:
                # The service stamps the group and the people who joined or left as changed.
                services.change_group_members(obj, add=added, remove=removed,
                                              actor=actor(request), request=request, door=DOOR)
        except services.RuleViolation as exc:
            raise self.rule_error(exc) from None

    def delete(self, obj: Group, request: HttpRequest) -> None:
        services.delete_group(obj, actor=actor(request), request=request, door=DOOR)


GROUPS = GroupKind()
