"""SCIM Users ↔ directory users: rendering, reading payloads, and writes through the services.

userName is the user name (an employee number, a user principal name, an
address), kept as sent and unique regardless of case. Keystead keeps one email
address per user, where resets and codes are mailed: the primary one of
``emails`` (else the work one, else the first), rendered back as the one primary
work address.
"""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Prefetch, QuerySet, Value
from django.db.models.functions import Concat
from django.http import HttpRequest

from keystead.api.scim.auth import actor
from keystead.api.scim.endpoint import location, timestamp, version_of
from keystead.api.scim.errors import USER_FIELDS, invalid_value
from keystead.api.scim.projection import Projection
from keystead.api.scim.queries import Column, ColumnMap
from keystead.api.scim.resources import DOOR, ResourceKind
from keystead.api.scim.schemas import USER, USER_SCHEMA
from keystead.directory import services
from keystead.directory.authorization import Action, require
from keystead.directory.models import Group, User
from keystead.directory.rules import normalize_email
from keystead.secret import Secret

_ID = Column("pk", "id")
_EMAIL = Column("email")
_USERNAME = Column("username")
_DISPLAY = Column("scim_display_name")
_GROUP_ID = Column("directory_groups__pk", "id", multi=True)

COLUMNS: ColumnMap = {
    "id": _ID,
    "username": _USERNAME,
    "name.givenname": Column("given_name"),
    "name.familyname": Column("family_name"),
    "name.formatted": _DISPLAY,
    "displayname": _DISPLAY,
    "externalid": Column("external_id", case_exact=True),
    "active": Column("is_active", "boolean"),
    "emails": _EMAIL,
    "emails.value": _EMAIL,
    "emails.type": Column(kind="const", const="work"),
    "emails.primary": Column(kind="const", const=True),
    "groups": _GROUP_ID,
    "groups.value": _GROUP_ID,
    "groups.display": Column("directory_groups__name", multi=True),
    "meta.created": Column("date_joined", "datetime"),
    "meta.lastmodified": Column("updated_at", "datetime"),
    "meta.resourcetype": Column(kind="const", const="User", case_exact=True),
}


def _string(path: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_value(f"{path} must be a string.")
    return value


def _boolean(value: Any, default: bool) -> bool:
    """A JSON boolean; the strings "true"/"false" too, as some identity providers send them."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid_value("active must be true or false.")


def _primary_email(emails: Any) -> str | None:
    """The address that counts: the primary one, else the work one, else the first."""
    if emails is None:
        return None
    if not isinstance(emails, list) or not all(isinstance(e, dict) for e in emails):
        raise invalid_value("emails must be a list of objects like "
                            '{"value": "ada@example.com", "type": "work", "primary": true}.')
    if not emails:
        return None
    chosen = (next((e for e in emails if str(e.get("primary")).lower() == "true"), None)
              or next((e for e in emails if str(e.get("type", "")).lower() == "work"), None)
              or emails[0])
    value = chosen.get("value")
    if value is None:
        return None
    return _string("emails.value", value)


def _email(doc: dict[str, Any], current: User | None) -> str:
    """The one address Keystead keeps. Without ``emails`` a new person is refused
    (resets and sign-in codes need an address); a PUT that leaves it out keeps the
    current one (RFC 7644 §3.5.1 lets omitted attributes be "not asserted")."""
    if "emails" not in doc and current is not None:
        return current.email
    email = _primary_email(doc.get("emails"))
    if not email:
        raise invalid_value(
            'emails is required: send at least one address, e.g. "emails": [{"value": '
            '"ada@example.com", "type": "work", "primary": true}]. Keystead mails password '
            "resets and sign-in codes to it."
        )
    return email


def person_values(doc: dict[str, Any], current: User | None) -> dict[str, Any]:
    """The directory fields a SCIM User document asks for, type-checked.

    A missing userName is left empty: the services then keep the current user
    name, or give a new person their email.
    """
    name = doc.get("name")
    if name is None:
        name = {}
    if not isinstance(name, dict):
        raise invalid_value('name must be an object like {"givenName": "Ada", '
                            '"familyName": "Lovelace"}.')
    username = _string("userName", doc.get("userName"))
    if current is not None and current.username and "userName" in doc \
            and not username.strip():
        # Left out, a PUT keeps the user name; sent blank it would be silently kept
        # too, and the client told its write succeeded (userName is required).
        raise invalid_value("userName must not be blank: send the user name to keep, or "
                            "leave userName out to keep the current one.")
    return {
        "username": username,
        "email": _email(doc, current),
        "given_name": _string("name.givenName", name.get("givenName")),
        "family_name": _string("name.familyName", name.get("familyName")),
        "is_active": _boolean(doc.get("active"), current.is_active if current else True),
        "external_id": _string("externalId", doc.get("externalId")),
    }


def _stored_form(field: str, value: Any) -> Any:
    """How the services would store ``value``, to tell a real change from a no-op."""
    if field == "email":
        return normalize_email(value)
    if field == "username":
        return value
    return value.strip() if isinstance(value, str) else value


def _renders_groups(projection: Projection | None) -> bool:
    """Groups are read when shown, and for meta.version, which covers them (RFC 7644 §3.14:
    the version a list shows must be the one GET and If-Match use)."""
    return projection is None or projection.wants("groups") or projection.wants("meta")


class UserKind(ResourceKind[User]):
    schema = USER
    columns = COLUMNS
    noun = "user"
    field_paths = USER_FIELDS

    def queryset(self, projection: Projection | None = None) -> QuerySet[User]:
        query = User.objects.annotate(scim_display_name=Concat(
            "given_name", Value(" "), "family_name", output_field=CharField()))
        if _renders_groups(projection):
            query = query.prefetch_related(
                Prefetch("directory_groups", queryset=Group.objects.only("pk", "name")))
        return query

    def render(self, obj: User, projection: Projection | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"schemas": [USER_SCHEMA], "id": str(obj.pk)}
        if obj.external_id:
            doc["externalId"] = obj.external_id
        doc["userName"] = obj.username
        doc["name"] = {"formatted": obj.full_name, "familyName": obj.family_name,
                       "givenName": obj.given_name}
        doc["displayName"] = obj.full_name
        doc["emails"] = [{"value": obj.email, "type": "work", "primary": True}]
        doc["active"] = obj.is_active
        if _renders_groups(projection):
            groups = sorted(obj.directory_groups.all(), key=lambda g: g.pk)
            if groups:
                doc["groups"] = [
                    {"value": str(g.pk), "$ref": location("/Groups", g.pk), "display": g.name,
                     "type": "direct"}
                    for g in groups
                ]
        doc["meta"] = {
            "resourceType": "User",
            "created": timestamp(obj.date_joined),
            "lastModified": timestamp(obj.updated_at),
            "location": location("/Users", obj.pk),
            "version": version_of(doc),
        }
        return doc

    def check_writable(self, obj: User, request: HttpRequest) -> None:
        require(actor(request), Action.CHANGE, obj)

    def create(self, doc: dict[str, Any], secrets: dict[str, Secret],
               request: HttpRequest) -> User:
        values = person_values(doc, None)
        try:
            return services.create_user(values, actor=actor(request),
                                        password=secrets.get("password"), request=request,
                                        door=DOOR)
        except services.RuleViolation as exc:
            raise self.rule_error(exc) from None

    def save(self, obj: User, before: dict[str, Any], after: dict[str, Any],
             secrets: dict[str, Secret], request: HttpRequest) -> None:
        values = person_values(after, obj)
        password = secrets.get("password")
        unchanged = all(_stored_form(k, v) == getattr(obj, k) for k, v in values.items()
                        if k != "username" or v)
        if unchanged and not password:
            return
        try:
            if unchanged and password:
                services.set_password(obj, password, actor=actor(request), request=request,
                                      door=DOOR)
            else:
                services.update_user(obj, values, actor=actor(request), password=password,
                                     request=request, door=DOOR)
        except services.RuleViolation as exc:
            raise self.rule_error(exc) from None

    def delete(self, obj: User, request: HttpRequest) -> None:
        services.delete_user(obj, actor=actor(request), request=request, door=DOOR)


USERS = UserKind()
