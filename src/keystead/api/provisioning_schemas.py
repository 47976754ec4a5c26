"""Request and response shapes of the provisioning endpoints (/api/v1/systems, the queue).

Kept apart from ``schemas.py`` because provisioning is its own part of the API. No
output shape has a field that could hold a secret: a system says only whether it
has one (``secret_set``), an operation only whether it carries a password.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, Field, SecretStr, StrictBool, StrictInt

from keystead.api.schemas import Ref, ShortText, Text
from keystead.provisioning.models import (
    ConnectorType,
    Kind,
    NameSource,
    RoleRemoval,
    Source,
    State,
)


def _plain_json(value: Any, depth: int = 0) -> Any:
    """Settings are stored as JSON on every database: no NUL characters (PostgreSQL
    refuses them), no infinite numbers, no endless nesting."""
    if depth > 20:
        raise ValueError("is nested too deeply (at most 20 levels)")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must hold finite numbers only")
    elif isinstance(value, dict):
        for key, item in value.items():
            _plain_json(key, depth + 1)
            _plain_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _plain_json(item, depth + 1)
    return value


Settings = Annotated[dict[str, Any], AfterValidator(_plain_json), Field(
    description="The connector's settings, without the secret (docs/provisioning-connectors.md).")]
# Literals rather than the model enums: their class names (Source, Kind, State) are taken
# by other enums in the OpenAPI description, where names must be unique.
MappingSource = Literal[tuple(item.value for item in Source)]  # type: ignore[valid-type]
OperationKind = Literal[tuple(item.value for item in Kind)]  # type: ignore[valid-type]
OperationState = Literal[tuple(item.value for item in State)]  # type: ignore[valid-type]
SystemName = Annotated[Text, Field(min_length=1, max_length=80)]
PolicyName = Annotated[Text, Field(min_length=1, max_length=80)]
SystemSecret = Annotated[SecretStr, Field(
    min_length=1, max_length=4096,
    description="Write-only: the bind password, database password or bearer token. "
                "Never returned; leave it out to keep the stored one.")]
Count = Annotated[StrictInt, Field(ge=0, le=4096)]


# --- systems ---------------------------------------------------------------------------

class SystemOut(Schema):
    id: int
    name: str
    connector: ConnectorType
    settings: dict[str, Any]
    secret_set: bool = Field(description="Whether a secret is stored (it is never returned).")
    read_only: bool
    disabled: bool
    block_create: bool
    block_update: bool
    block_delete: bool
    send_password_attributes_together: bool
    validation_policy: str | None = Field(description="The validating policy's name.")
    generating_policy: str | None = Field(description="The generating policy's name.")
    account_name_from: NameSource
    on_role_removal: RoleRemoval
    last_reconciled_at: datetime | None
    last_reconciliation: dict[str, Any] = Field(
        description="Counts by action, fixes queued and the accounts that differed "
                    "(attribute names only), as the last reconciliation recorded them.")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_secret_set(obj) -> bool:
        return bool(obj.secrets_encrypted)

    @staticmethod
    def resolve_validation_policy(obj) -> str | None:
        return obj.validation_policy.name if obj.validation_policy_id else None

    @staticmethod
    def resolve_generating_policy(obj) -> str | None:
        return obj.generating_policy.name if obj.generating_policy_id else None


class SystemCreate(Schema):
    name: SystemName
    connector: ConnectorType
    settings: Settings = {}
    secret: SystemSecret | None = None
    read_only: StrictBool = False
    disabled: StrictBool = False
    block_create: StrictBool = False
    block_update: StrictBool = False
    block_delete: StrictBool = False
    send_password_attributes_together: StrictBool = False
    validation_policy: PolicyName | None = None
    generating_policy: PolicyName | None = None
    account_name_from: NameSource = NameSource.USERNAME
    on_role_removal: RoleRemoval = RoleRemoval.DISABLE


class SystemPatch(Schema):
    """Only the fields given change; ``null`` for a policy removes it."""

    name: SystemName | None = None
    connector: ConnectorType | None = None
    settings: Settings | None = None
    secret: SystemSecret | None = None
    clear_secret: StrictBool = Field(False, description="true: remove the stored secret.")
    read_only: StrictBool | None = None
    disabled: StrictBool | None = None
    block_create: StrictBool | None = None
    block_update: StrictBool | None = None
    block_delete: StrictBool | None = None
    send_password_attributes_together: StrictBool | None = None
    validation_policy: PolicyName | None = None
    generating_policy: PolicyName | None = None
    account_name_from: NameSource | None = None
    on_role_removal: RoleRemoval | None = None


class ConnectionTestOut(Schema):
    ok: bool
    message: str


class SchemaAttributeOut(Schema):
    name: str
    required: bool
    multivalued: bool
    type: str


class SchemaOut(Schema):
    attributes: list[SchemaAttributeOut]


class MappedAttributeIn(Schema):
    name: Annotated[Text, Field(max_length=255, description="The system attribute.")]
    is_password: StrictBool = Field(False, description="Gets the password; __PASSWORD__ too.")
    source: MappingSource = Field("", description="The Keystead attribute (\"\": none).")
    constant: Annotated[Text, Field(max_length=1000)] = ""
    script: Annotated[Text, Field(max_length=20000, description="A CEL expression.")] = ""


class MappedAttributeOut(Schema):
    id: int
    name: str
    is_password: bool
    source: str
    constant: str
    script: str


class MappingIn(Schema):
    mapping: list[MappedAttributeIn] = Field(max_length=1000)


class MappingOut(Schema):
    mapping: list[MappedAttributeOut]


class RolesIn(Schema):
    roles: list[Annotated[StrictInt, Field(ge=1, le=2**63 - 1)] | ShortText] = Field(
        max_length=1000, description="Role ids or names; the whole list of roles that grant "
                                     "an account on the system.")


class RolesOut(Schema):
    roles: list[Ref]


# --- password policies -------------------------------------------------------------------

class PasswordPolicyOut(Schema):
    id: int
    name: str
    min_length: int
    max_length: int
    min_lowercase: int
    min_uppercase: int
    min_digits: int
    min_symbols: int
    generated_length: int
    default_for_generation: bool


class PasswordPolicyIn(Schema):
    name: PolicyName
    min_length: Annotated[StrictInt, Field(ge=1, le=1024)] = 12
    max_length: Annotated[StrictInt, Field(ge=1, le=4096)] = 128
    min_lowercase: Count = 0
    min_uppercase: Count = 0
    min_digits: Count = 0
    min_symbols: Count = 0
    generated_length: Annotated[StrictInt, Field(ge=8, le=1024)] = 24
    default_for_generation: StrictBool = False


class PasswordPolicyPatch(Schema):
    name: PolicyName | None = None
    min_length: Annotated[StrictInt, Field(ge=1, le=1024)] | None = None
    max_length: Annotated[StrictInt, Field(ge=1, le=4096)] | None = None
    min_lowercase: Count | None = None
    min_uppercase: Count | None = None
    min_digits: Count | None = None
    min_symbols: Count | None = None
    generated_length: Annotated[StrictInt, Field(ge=8, le=1024)] | None = None
    default_for_generation: StrictBool | None = None


# --- the queue and the archive -----------------------------------------------------------

class OperationFilter(Schema):
    system: ShortText | None = Field(None, description="A system's id or name.")
    state: OperationState | None = None
    kind: OperationKind | None = None
    account: ShortText | None = Field(None, description="Part of the account name.")


def system_ref(obj: Any) -> dict:
    """The system an operation (queued or archived) belongs to, as ``Ref``."""
    return {"id": obj.system_id, "name": obj.system.name}


class OperationOut(Schema):
    id: int
    system: Ref
    account_name: str
    kind: OperationKind
    attributes: dict[str, Any] = Field(description="Plain attributes; passwords are never "
                                                   "among them.")
    has_password: bool = Field(description="Whether a password waits with it (encrypted; "
                                           "never returned).")
    state: OperationState
    reason: str
    state_in_words: str
    blocked_behind: int | None
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    updated_at: datetime

    resolve_system = staticmethod(system_ref)

    @staticmethod
    def resolve_state_in_words(obj) -> str:
        return obj.why


class ArchivedOperationOut(Schema):
    operation_id: int
    system: Ref
    account_name: str
    kind: OperationKind
    attributes: dict[str, Any]
    had_password: bool
    state: OperationState
    attempts: int
    last_error: str
    created_at: datetime
    ended_at: datetime

    resolve_system = staticmethod(system_ref)
