"""Who is calling the token endpoint: client authentication for Keystead's own grant handlers.

RFC 6749 §2.3.1: a confidential client sends its id and secret in HTTP Basic
(each form-urlencoded first) or as ``client_id`` / ``client_secret`` in the body;
a public client sends only ``client_id`` (§3.2.1) and has no secret to check.
The same rules as django-oauth-toolkit's validator, in one plain SQL read of
the application and its token settings together (the ORM's query building
cost more CPU than the query).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote_plus

from django.contrib.auth.hashers import check_password
from django.http import HttpRequest
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

from keystead import hot_sql
from keystead.directory.audit import Target
from keystead.hot_sql import column, table
from keystead.providers.oidc.clients import SETTINGS_FIELDS
from keystead.providers.oidc.models import ClientSettings

Application = get_application_model()


class InvalidClient(Exception):
    """The client could not be authenticated (RFC 6749 §5.2 ``invalid_client``)."""

    def __init__(self, description: str, *, used_basic: bool) -> None:
        super().__init__(description)
        self.description = description
        self.used_basic = used_basic


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str | None  # None: none was sent (a public client)
    used_basic: bool


@dataclass(frozen=True)
class Client:
    """An authenticated application and its token settings (defaults when it has none)."""

    pk: int
    client_id: str
    name: str
    client_type: str
    registered_grant: str  # the toolkit's authorization_grant_type
    algorithm: str
    issue_refresh_tokens: bool
    rotate_refresh_tokens: bool
    access_token_seconds: int | None
    refresh_token_seconds: int | None
    id_token_algorithm: str
    allowed_grants: tuple[str, ...]

    @property
    def audit_target(self) -> Target:
        return Target("application", str(self.pk), self.name)

    @property
    def access_lifetime(self) -> int:
        """Seconds an access token lives: the application's own, or the site's."""
        return self.access_token_seconds or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS

    @property
    def refresh_lifetime(self) -> int | None:
        """Seconds a refresh token lives: the application's own, or the site's (None:
        no limit)."""
        return self.refresh_token_seconds or oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS


def credentials_from(authorization: str, form) -> Credentials | None:
    """The client's id and secret from the Authorization header or the form; None if absent.

    A malformed Basic header is an answer too (no credentials), never an exception.
    """
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            return None
        return Credentials(unquote_plus(client_id), unquote_plus(secret), used_basic=True)
    client_id = form.get("client_id", "")
    if not client_id:
        return None
    return Credentials(client_id, form.get("client_secret"), used_basic=False)


def secret_matches(sent: str, stored: str, *, hashed: bool) -> bool:
    """The sent secret against the stored one (hashed, or in clear if the application says so)."""
    if not hashed:
        return hmac.compare_digest(sent.encode(), stored.encode())
    # An application sends the same secret on every request; once it has matched a stored
    # hash, this process remembers the pair (the SHA-256 of the secret, never the secret)
    # and skips the hasher's machinery next time. A changed secret is a new stored hash.
    key = (stored, hashlib.sha256(sent.encode()).digest())
    if key in _matched:
        return True
    if not check_password(sent, stored):
        return False
    if len(_matched) >= _MATCHED_LIMIT:
        _matched.clear()
    _matched.add(key)
    return True


_matched: set[tuple[str, bytes]] = set()
_MATCHED_LIMIT = 1024  # applications, in practice; cleared whole when full


_APPLICATION_FIELDS = ("id", "client_id", "name", "client_type", "client_secret",
                       "hash_client_secret", "authorization_grant_type", "algorithm")
_SETTINGS_FIELDS = (*SETTINGS_FIELDS, "allowed_grants")


@dataclass(frozen=True)
class Companion:
    """A second read answered by the client lookup's own statement: one round trip, not two.

    ``sql`` is a query returning at most one row; its columns follow the client's in
    the result (all NULL when it finds nothing). ``params`` are its bound values.
    """

    sql: str
    params: tuple


@cache
def _lookup_sql(companion_sql: str | None) -> str:
    def columns(model, alias: str, names: tuple[str, ...]) -> str:
        return ", ".join(f"{alias}.{column(model, name)}" for name in names)

    companion_columns, companion_join = (
        (", c.*", f" LEFT JOIN ({companion_sql}) c ON 1 = 1") if companion_sql else ("", ""))
    return (f"SELECT {columns(Application, 'a', _APPLICATION_FIELDS)},"  # noqa: S608 (names from the models, values bound)
            f" {columns(ClientSettings, 's', _SETTINGS_FIELDS)}{companion_columns}"
            f" FROM {table(Application)} a"
            f" LEFT JOIN {table(ClientSettings)} s"
            f" ON s.{column(ClientSettings, 'application')} = a.id{companion_join}"
            f" WHERE a.{column(Application, 'client_id')} = %s")


def _flag(settings_row: dict, name: str) -> bool:
    """A yes/no token setting; its default when the application has no settings row
    (the LEFT JOIN gives NULL)."""
    value = settings_row[name]
    return ClientSettings._meta.get_field(name).default if value is None else bool(value)


_CLIENT_COLUMNS = len(_APPLICATION_FIELDS) + len(_SETTINGS_FIELDS)


def _client_from(row: tuple) -> tuple[Client, str, bool]:
    """The client, its stored secret and whether that is hashed."""
    app = dict(zip(_APPLICATION_FIELDS, row[:len(_APPLICATION_FIELDS)], strict=True))
    own = dict(zip(_SETTINGS_FIELDS, row[len(_APPLICATION_FIELDS):_CLIENT_COLUMNS],
                   strict=True))
    grants = own["allowed_grants"]
    if isinstance(grants, str):
        grants = json.loads(grants) if grants else []
    client = Client(
        pk=app["id"], client_id=app["client_id"], name=app["name"],
        client_type=app["client_type"], registered_grant=app["authorization_grant_type"],
        algorithm=app["algorithm"],
        issue_refresh_tokens=_flag(own, "issue_refresh_tokens"),
        rotate_refresh_tokens=_flag(own, "rotate_refresh_tokens"),
        access_token_seconds=own["access_token_seconds"],
        refresh_token_seconds=own["refresh_token_seconds"],
        id_token_algorithm=own["id_token_algorithm"] or "",
        allowed_grants=tuple(grants or ()),
    )
    return client, app["client_secret"], bool(app["hash_client_secret"])


def authenticate(request: HttpRequest,
                 companion: Companion | None = None) -> tuple[Client, tuple | None]:
    """The calling application with its token settings, or ``InvalidClient``; and the
    companion query's row (None without one)."""
    credentials = credentials_from(request.META.get("HTTP_AUTHORIZATION", ""), request.POST)
    if credentials is None:
        raise InvalidClient("Client authentication is required.", used_basic=False)
    sql = _lookup_sql(companion.sql if companion else None)
    params = [*(companion.params if companion else ()), credentials.client_id]
    with hot_sql.execute(sql, params) as cursor:
        row = cursor.fetchone()
    if row is None:
        raise InvalidClient("Unknown client.", used_basic=credentials.used_basic)
    client, stored_secret, hashed = _client_from(row)
    if client.client_type == Application.CLIENT_CONFIDENTIAL:
        if not credentials.secret or not secret_matches(credentials.secret, stored_secret,
                                                        hashed=hashed):
            raise InvalidClient("Wrong client credentials.", used_basic=credentials.used_basic)
    elif credentials.secret:
        raise InvalidClient("A public client has no secret.", used_basic=credentials.used_basic)
    return client, (tuple(row[_CLIENT_COLUMNS:]) if companion else None)
