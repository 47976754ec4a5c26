"""Request and response shapes of the REST API (OpenAPI at /api/docs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from ninja import Schema
from pydantic import AfterValidator, Field, SecretStr

from keystead.directory.models import Source


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _utc(value: datetime) -> datetime:
    """Compare in UTC; a time without a zone is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


Text = Annotated[str, AfterValidator(_no_nul)]
Instant = Annotated[datetime, AfterValidator(_utc)]
ShortText = Annotated[Text, Field(max_length=255)]
Name = Annotated[Text, Field(max_length=150)]
Email = Annotated[Text, Field(max_length=254)]
Password = Annotated[
    SecretStr, Field(min_length=1, max_length=1024, description="Write-only; never returned.")
]
RecordId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class Ref(Schema):
    id: int
    name: str


class UserRef(Schema):
    id: int
    email: str


class UserOut(Schema):
    id: int
    email: str
    given_name: str
    family_name: str
    name: str = Field(alias="full_name")
    is_active: bool
    is_staff: bool
    source: Source
    source_id: str
    external_id: str
    groups: list[Ref]
    roles: list[Ref]
    date_joined: datetime
    last_login: datetime | None
    password_changed_at: datetime | None
    updated_at: datetime

    @staticmethod
    def resolve_groups(obj) -> list[dict]:
        return [{"id": g.pk, "name": g.name} for g in obj.directory_groups.all()]

    @staticmethod
    def resolve_roles(obj) -> list[dict]:
        return [{"id": r.pk, "name": r.name} for r in obj.roles.all()]


class UserCreate(Schema):
    email: Email
    given_name: Name
    family_name: Name
    is_active: bool = True
    source: Source = Source.LOCAL
    source_id: ShortText = ""
    external_id: ShortText = ""
    password: Password | None = None


class UserPatch(Schema):
    email: Email | None = None
    given_name: Name | None = None
    family_name: Name | None = None
    is_active: bool | None = None
    source: Source | None = None
    source_id: ShortText | None = None
    external_id: ShortText | None = None


class PasswordIn(Schema):
    password: Password


class GroupOut(Schema):
    id: int
    name: str
    description: str
    external_id: str
    members: list[UserRef]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_members(obj) -> list[dict]:
        return [{"id": u.pk, "email": u.email} for u in obj.members.all()]


class GroupCreate(Schema):
    name: Name
    description: Annotated[Text, Field(max_length=2000)] = ""
    external_id: ShortText = ""
    member_ids: list[RecordId] = []


class GroupPatch(Schema):
    name: Name | None = None
    description: Annotated[Text, Field(max_length=2000)] | None = None
    external_id: ShortText | None = None
    member_ids: list[RecordId] | None = None


class MembersChange(Schema):
    add: list[RecordId] = []
    remove: list[RecordId] = []


class RoleOut(Schema):
    id: int
    name: str
    description: str
    users: list[UserRef]
    groups: list[Ref]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_users(obj) -> list[dict]:
        return [{"id": u.pk, "email": u.email} for u in obj.users.all()]

    @staticmethod
    def resolve_groups(obj) -> list[dict]:
        return [{"id": g.pk, "name": g.name} for g in obj.groups.all()]


class RoleCreate(Schema):
    name: Name
    description: Annotated[Text, Field(max_length=2000)] = ""
    user_ids: list[RecordId] = []
    group_ids: list[RecordId] = []


class RolePatch(Schema):
    name: Name | None = None
    description: Annotated[Text, Field(max_length=2000)] | None = None
    user_ids: list[RecordId] | None = None
    group_ids: list[RecordId] | None = None


class EventOut(Schema):
    id: int
    created_at: datetime
    action: str
    outcome: str
    actor_id: int | None
    actor_label: str
    target_type: str
    target_id: str
    target_label: str
    client_ip: str | None
    user_agent: str
    detail: dict


class TokenOut(Schema):
    key_id: str
    name: str
    scopes: list[str]
    owner: str | None
    status: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @staticmethod
    def resolve_owner(obj) -> str | None:
        return obj.owner.email if obj.owner else None


class TokenCreate(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    scopes: list[Annotated[Text, Field(max_length=32)]] = Field(min_length=1)
    days: Annotated[int, Field(ge=0, le=3650)] | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown only in this response.")


class Problem(Schema):
    detail: str
    errors: list[dict] | None = None
