"""Request and response shapes of the REST API (OpenAPI at /api/docs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, Field, SecretStr, StrictBool, StrictInt

from keystead.api.tokens import MAX_DAYS
from keystead.directory.models import Source
from keystead.policy.changes import accepted_range, setting_advice, settings_of


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
Username = Annotated[Text, Field(
    max_length=254, description="A sign-in name beside the email (an employee number, a "
                                "user principal name); defaults to the email.")]
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
    username: str
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
    locked: bool = Field(description="Whether failed sign-ins have locked the account now.")
    locked_until: datetime | None = Field(
        description="When the lock ends; null while unlocked, or locked until an "
                    "administrator unlocks (then `locked` is true).")
    failed_logins: int = Field(description="Consecutive failed sign-ins since the last success.")

    @staticmethod
    def resolve_groups(obj) -> list[dict]:
        return [{"id": g.pk, "name": g.name} for g in obj.directory_groups.all()]

    @staticmethod
    def resolve_locked(obj) -> bool:
        return obj.is_locked()

    @staticmethod
    def resolve_locked_until(obj) -> datetime | None:
        return obj.locked_until if obj.is_locked() else None

    @staticmethod
    def resolve_roles(obj) -> list[dict]:
        return [{"id": r.pk, "name": r.name} for r in obj.roles.all()]


class UserCreate(Schema):
    username: Username | None = None
    email: Email
    given_name: Name
    family_name: Name
    is_active: bool = True
    source: Source = Source.LOCAL
    source_id: ShortText = ""
    external_id: ShortText = ""
    password: Password | None = None


class UserPatch(Schema):
    username: Username | None = None
    email: Email | None = None
    given_name: Name | None = None
    family_name: Name | None = None
    is_active: bool | None = None
    source: Source | None = None
    source_id: ShortText | None = None
    external_id: ShortText | None = None


class PasswordIn(Schema):
    password: Password


class FactorsReset(Schema):
    removed: dict[str, int] = Field(description="How many of each second factor were removed.")


class SignedOut(Schema):
    sessions_ended: int = Field(description="Browser sessions ended (tokens and remembered "
                                            "browsers are revoked too).")


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


# Where a list asked to show them, the related records are prefetched under these names;
# a list item without them shows null. So a list item never reads them one by one.
LISTED_MEMBERS = "listed_members"
LISTED_USERS = "listed_users"
LISTED_GROUPS = "listed_groups"


class ListQuery(Schema):
    """The query of `GET /api/v1/groups` and `GET /api/v1/roles`."""

    q: ShortText | None = Field(
        None, description="Only the records whose name contains this, in any case.")
    members: bool = Field(
        True, description="`false` leaves out who belongs to each record (a group's "
                          "`members`, a role's `users` and `groups`, then null), so a page "
                          "of large groups costs no more than a page of small ones.")


def _listed(obj: Any, name: str, shape: Callable[[Any], dict]) -> list[dict] | None:
    related = getattr(obj, name, None)
    return None if related is None else [shape(item) for item in related]


def _user_ref(user: Any) -> dict:
    return {"id": user.pk, "email": user.email}


def _group_ref(group: Any) -> dict:
    return {"id": group.pk, "name": group.name}


class GroupListItem(GroupOut):
    """A group in `GET /api/v1/groups`: its members may be left out of the list."""

    members: list[UserRef] | None = Field(
        description="The members; null when the list was asked with `members=false`.")

    @staticmethod
    def resolve_members(obj) -> list[dict] | None:
        return _listed(obj, LISTED_MEMBERS, _user_ref)


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


class RoleListItem(RoleOut):
    """A role in `GET /api/v1/roles`: who holds it may be left out of the list."""

    users: list[UserRef] | None = Field(
        description="The people holding the role directly; null when the list was asked "
                    "with `members=false`.")
    groups: list[Ref] | None = Field(
        description="The groups holding the role; null when the list was asked with "
                    "`members=false`.")

    @staticmethod
    def resolve_users(obj) -> list[dict] | None:
        return _listed(obj, LISTED_USERS, _user_ref)

    @staticmethod
    def resolve_groups(obj) -> list[dict] | None:
        return _listed(obj, LISTED_GROUPS, _group_ref)


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
    days: Annotated[int, Field(ge=0, le=MAX_DAYS)] | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown only in this response.")


def _count(name: str, description: str):
    """A number setting; the range is documented here and checked (with a message that
    names the setting) by ``keystead.policy.changes``, the check every door shares."""
    low, high = accepted_range(name)
    return Field(description=f"{description} ({low} to {high}).",
                 json_schema_extra={"minimum": low, "maximum": high})


_SETTINGS_HELP = {
    "min_length": "Minimum password length; NIST SP 800-63B-4: 15, or 8 with a second factor",
    "max_length": "Maximum password length; at least 64 so passphrases fit",
    "min_strength": "Lowest zxcvbn strength score a password must reach (repeats, sequences, "
                    "keyboard rows and names score low); 3 = about 10^8 guesses; 0 = no rule",
    "min_lowercase": "Lowercase letters a password must contain; 0 = no rule",
    "min_uppercase": "Uppercase letters a password must contain; 0 = no rule",
    "min_digits": "Numbers a password must contain; 0 = no rule",
    "min_symbols": "Non-alphanumeric characters a password must contain; 0 = no rule",
    "reuse_blocked": "Block re-use of previous passwords: 0 = allowed, N = the last N, -1 = all",
    "expire_days": "Password expires after N days; 0 = never",
    "warn_days": "Warn this many days before expiry; less than expire_days",
    "max_failures": "Consecutive failed sign-ins before the account locks; 0 = never",
    "lock_minutes": "Minutes an account stays locked; 0 = until an administrator unlocks",
}
_SCREEN_COMMON = "Refuse common and breached passwords (offline lists)."
_SCREEN_PERSONAL = "Refuse passwords containing the user's name or email."


class PolicySettingsIn(Schema):
    """Every setting of a logon policy (PUT replaces them all)."""

    min_length: StrictInt = _count("min_length", _SETTINGS_HELP["min_length"])
    max_length: StrictInt = _count("max_length", _SETTINGS_HELP["max_length"])
    min_strength: StrictInt = _count("min_strength", _SETTINGS_HELP["min_strength"])
    min_lowercase: StrictInt = _count("min_lowercase", _SETTINGS_HELP["min_lowercase"])
    min_uppercase: StrictInt = _count("min_uppercase", _SETTINGS_HELP["min_uppercase"])
    min_digits: StrictInt = _count("min_digits", _SETTINGS_HELP["min_digits"])
    min_symbols: StrictInt = _count("min_symbols", _SETTINGS_HELP["min_symbols"])
    screen_common: StrictBool = Field(description=_SCREEN_COMMON)
    screen_personal: StrictBool = Field(description=_SCREEN_PERSONAL)
    reuse_blocked: StrictInt = _count("reuse_blocked", _SETTINGS_HELP["reuse_blocked"])
    expire_days: StrictInt = _count("expire_days", _SETTINGS_HELP["expire_days"])
    warn_days: StrictInt = _count("warn_days", _SETTINGS_HELP["warn_days"])
    max_failures: StrictInt = _count("max_failures", _SETTINGS_HELP["max_failures"])
    lock_minutes: StrictInt = _count("lock_minutes", _SETTINGS_HELP["lock_minutes"])


class PolicySettingsPatch(Schema):
    """Only the settings to change (PATCH); the others keep their value."""

    min_length: StrictInt | None = None
    max_length: StrictInt | None = None
    min_strength: StrictInt | None = None
    min_lowercase: StrictInt | None = None
    min_uppercase: StrictInt | None = None
    min_digits: StrictInt | None = None
    min_symbols: StrictInt | None = None
    screen_common: StrictBool | None = None
    screen_personal: StrictBool | None = None
    reuse_blocked: StrictInt | None = None
    expire_days: StrictInt | None = None
    warn_days: StrictInt | None = None
    max_failures: StrictInt | None = None
    lock_minutes: StrictInt | None = None
    login_strategy: str | None = Field(None, description=(
        "Installation only: password, password+2fa, ldap or saml. Refused with what is "
        "missing when a prerequisite is (password+2fa needs a mail server)."))
    email_code_length: StrictInt | None = Field(None, description="Installation only (4-10).")
    code_max_attempts: StrictInt | None = Field(None, description="Installation only (1-100).")
    remember_days: StrictInt | None = Field(None, description=(
        "Installation only (0-365, 0 = ask every time). Browsers keep the period they were "
        "remembered with."))
    require_second_factor: StrictBool | None = Field(None, description="Group policies only.")
    strong_factors_only: StrictBool | None = Field(None, description=(
        "Group policies only: members may not confirm sign-ins with codes by email."))


class PolicyOut(Schema):
    min_length: int
    max_length: int
    min_strength: int
    min_lowercase: int
    min_uppercase: int
    min_digits: int
    min_symbols: int
    screen_common: bool
    screen_personal: bool
    reuse_blocked: int
    expire_days: int
    warn_days: int
    max_failures: int
    lock_minutes: int
    updated_at: datetime
    advice: list[str] = Field(
        description="Settings that are allowed but depart from NIST SP 800-63B-4, in words.")

    @staticmethod
    def resolve_advice(obj) -> list[str]:
        return setting_advice(settings_of(obj))


class InstallationPolicyOut(PolicyOut):
    login_strategy: str
    email_code_length: int
    code_max_attempts: int
    remember_days: int


class GroupPolicyOut(PolicyOut):
    group: Ref
    require_second_factor: bool
    strong_factors_only: bool

    @staticmethod
    def resolve_group(obj) -> dict:
        return {"id": obj.group.pk, "name": obj.group.name}


class Problem(Schema):
    detail: str
    errors: list[dict] | None = None


# --- OpenID Connect applications (/api/v1/clients) ---------------------------------

RedirectUri = Annotated[Text, Field(max_length=2000)]
Seconds = Annotated[StrictInt, Field(ge=1, le=10 * 365 * 24 * 3600)]
ClientType = Literal["confidential", "public"]
GrantType = Literal["authorization-code", "client-credentials", "password"]
IdTokenAlgorithm = Literal["RS256", "ES256"]
SubjectType = Literal["public", "pairwise"]
SectorIdentifier = Annotated[Text, Field(max_length=255)]
_SUBJECT_HELP = ("public: every application knows a person by the same sub (their stable "
                 "identifier); pairwise: a sub of its own per sector (OpenID Connect Core §8.1).")
_SECTOR_HELP = ("Pairwise only: applications with the same sector identifier see the same sub. "
                "Empty: the host of the first redirect URI.")
_URIS_HELP = ("Exact addresses (no wildcards, no fragment): https://, or http:// only for "
              "localhost, 127.0.0.1 and [::1].")


_BACKCHANNEL_HELP = ("OpenID Connect Back-Channel Logout: where Keystead POSTs a signed "
                     "logout token when a person's session ends; https://, or http:// only "
                     "for localhost, 127.0.0.1 and [::1]; no fragment. Empty: not told.")
_SESSION_REQUIRED_HELP = "The application needs sid in every logout token."

_GRANTS_HELP = ("The grants the application may use: authorization-code, client-credentials, "
                "password (only when listed). Refresh tokens follow authorization-code and "
                "password unless issue_refresh_tokens is false.")


class ClientOut(Schema):
    client_id: str
    name: str
    client_type: ClientType
    grant_type: GrantType = Field(description="The main grant (the first of grant_types).")
    grant_types: list[GrantType] = Field(description=_GRANTS_HELP)
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    skip_consent: bool = Field(description="Sign people straight in, without a consent page.")
    id_token_algorithm: IdTokenAlgorithm
    subject_type: SubjectType = Field(description=_SUBJECT_HELP)
    sector_identifier: str = Field(description=_SECTOR_HELP)
    issue_refresh_tokens: bool
    rotate_refresh_tokens: bool = Field(
        description="A new refresh token at every refresh; reusing an old one revokes the "
                    "whole family.")
    access_token_seconds: int | None = Field(description="Null: the site default.")
    refresh_token_seconds: int | None = Field(description="Null: the site default.")
    backchannel_logout_uri: str = Field(description=_BACKCHANNEL_HELP)
    backchannel_logout_session_required: bool = Field(description=_SESSION_REQUIRED_HELP)
    created: datetime
    updated: datetime

    @staticmethod
    def resolve_grant_type(obj) -> str:
        return obj.authorization_grant_type

    @staticmethod
    def resolve_grant_types(obj) -> list[str]:
        from keystead.providers.oidc.clients import allowed_grants_of

        return allowed_grants_of(obj)

    @staticmethod
    def resolve_redirect_uris(obj) -> list[str]:
        return obj.redirect_uris.split()

    @staticmethod
    def resolve_post_logout_redirect_uris(obj) -> list[str]:
        return obj.post_logout_redirect_uris.split()

    @staticmethod
    def resolve_skip_consent(obj) -> bool:
        return obj.skip_authorization

    @staticmethod
    def _settings(obj):
        from keystead.providers.oidc.models import settings_for

        return settings_for(obj)

    @staticmethod
    def resolve_id_token_algorithm(obj) -> str:
        return ClientOut._settings(obj).id_token_algorithm or "RS256"

    @staticmethod
    def resolve_subject_type(obj) -> str:
        return ClientOut._settings(obj).subject_type or "public"

    @staticmethod
    def resolve_sector_identifier(obj) -> str:
        return ClientOut._settings(obj).sector_identifier

    @staticmethod
    def resolve_issue_refresh_tokens(obj) -> bool:
        return ClientOut._settings(obj).issue_refresh_tokens

    @staticmethod
    def resolve_rotate_refresh_tokens(obj) -> bool:
        return ClientOut._settings(obj).rotate_refresh_tokens

    @staticmethod
    def resolve_access_token_seconds(obj) -> int | None:
        return ClientOut._settings(obj).access_token_seconds

    @staticmethod
    def resolve_refresh_token_seconds(obj) -> int | None:
        return ClientOut._settings(obj).refresh_token_seconds

    @staticmethod
    def resolve_backchannel_logout_uri(obj) -> str:
        return ClientOut._settings(obj).backchannel_logout_uri

    @staticmethod
    def resolve_backchannel_logout_session_required(obj) -> bool:
        return ClientOut._settings(obj).backchannel_logout_session_required


class ClientCreate(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=255)]
    client_type: ClientType = "confidential"
    grant_types: list[GrantType] | None = Field(
        default=None, max_length=3,
        description=_GRANTS_HELP + " Default: [grant_type].")
    grant_type: GrantType | None = Field(
        default=None, description="One grant (default authorization-code); grant_types "
                                  "lists several.")
    redirect_uris: list[RedirectUri] = Field(default=[], max_length=20, description=_URIS_HELP)
    post_logout_redirect_uris: list[RedirectUri] = Field(default=[], max_length=20,
                                                         description=_URIS_HELP)
    skip_consent: StrictBool = False
    id_token_algorithm: IdTokenAlgorithm = "RS256"
    subject_type: SubjectType = Field(default="public", description=_SUBJECT_HELP)
    sector_identifier: SectorIdentifier = Field(default="", description=_SECTOR_HELP)
    issue_refresh_tokens: StrictBool = True
    rotate_refresh_tokens: StrictBool = True
    access_token_seconds: Seconds | None = None
    refresh_token_seconds: Seconds | None = None
    backchannel_logout_uri: RedirectUri = Field(default="", description=_BACKCHANNEL_HELP)
    backchannel_logout_session_required: StrictBool = Field(
        default=False, description=_SESSION_REQUIRED_HELP)


class ClientPatch(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=255)] | None = None
    redirect_uris: list[RedirectUri] | None = Field(default=None, max_length=20,
                                                    description=_URIS_HELP)
    post_logout_redirect_uris: list[RedirectUri] | None = Field(default=None, max_length=20)
    grant_types: list[GrantType] | None = Field(default=None, max_length=3,
                                                description=_GRANTS_HELP)
    skip_consent: StrictBool | None = None
    id_token_algorithm: IdTokenAlgorithm | None = None
    subject_type: SubjectType | None = Field(default=None, description=_SUBJECT_HELP)
    sector_identifier: SectorIdentifier | None = Field(default=None, description=_SECTOR_HELP)
    issue_refresh_tokens: StrictBool | None = None
    rotate_refresh_tokens: StrictBool | None = None
    access_token_seconds: Seconds | None = None
    refresh_token_seconds: Seconds | None = None
    backchannel_logout_uri: RedirectUri = Field(default="", description=_BACKCHANNEL_HELP)
    backchannel_logout_session_required: StrictBool = Field(
        default=False, description=_SESSION_REQUIRED_HELP)


class ClientCreated(ClientOut):
    client_secret: str | None = Field(
        description="Confidential clients only: the secret, shown in this response only and "
                    "stored hashed. Null for public clients.")
