"""The refresh grant's reads and writes: plain SQL, as few statements as the rules allow.

django-oauth-toolkit spends 23 SQL statements on a refresh (two client lookups,
a savepoint, ``SELECT … FOR UPDATE`` of the token and of its access token, the
collector's reads before deleting, …), and building each statement through the
ORM cost more CPU than PostgreSQL spent running it. Here a rotation is: one
read of the token with its access token and owner, one conditional ``UPDATE``
that revokes it only if it is still live, one ``DELETE`` of its access token,
and the ``INSERT``s of the new ID token, access token and refresh token. The
statements are written once, from the models' own table and column names, and
run on PostgreSQL and SQLite alike (``RETURNING`` needs SQLite 3.35).

Concurrency (PostgreSQL, several processes): the conditional ``UPDATE … WHERE
revoked IS NULL`` is the guard. Of two requests presenting the same token, the
second blocks on the first one's row lock, then finds the row revoked and
updates nothing; the grant treats that as reuse. No ``SELECT … FOR UPDATE``
is needed.

Tokens are stored as the toolkit stores them (only the SHA-256 checksum when
``COMPLIANT_BCP_RFC9700_TOKEN_STORAGE`` is on, RFC 9700), so the toolkit's
introspection, revocation, userinfo and admin pages see these tokens like
their own.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import connection
from oauth2_provider.models import (
    get_access_token_model,
    get_id_token_model,
    get_refresh_token_model,
)
from oauth2_provider.settings import oauth2_settings

from keystead import hot_sql
from keystead.directory.models import User
from keystead.providers.oidc.refresh_rules import TokenFacts

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
IDToken = get_id_token_model()


@dataclass(frozen=True)
class StoredRefreshToken:
    id: int
    family: uuid.UUID | None
    access_token_id: int | None
    user: User  # the owner, with the fields the claims and the audit need
    facts: TokenFacts


def checksum(raw_token: str) -> str:
    """How the toolkit finds a token (``TokenChecksumField``): SHA-256, hex."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


def _stored_value(raw_token: str) -> str:
    """What goes in the ``token`` column: nothing when tokens are stored hashed."""
    return "" if oauth2_settings.COMPLIANT_BCP_RFC9700_TOKEN_STORAGE else raw_token


# --------------------------------------------------------------------------- SQL


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _prep(model, field: str, value: Any) -> Any:
    return hot_sql.db_value(model, field, value)


def _aware(value: Any) -> datetime | None:
    """A datetime read by plain SQL: SQLite gives naive UTC (Django stores it so), or text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


_USER_FIELDS = ("is_active", "email", "given_name", "family_name", "last_login",
                "password_changed_at")


@cache
def _find_sql() -> str:
    rt, at, user = "rt", "at", "u"
    user_columns = ", ".join(f"{user}.{_column(User, f)}" for f in _USER_FIELDS)
    c = _column
    return (
        f"SELECT {rt}.id, {rt}.{c(RefreshToken, 'application')}, {rt}.{c(RefreshToken, 'user')},"  # noqa: S608
        f" {rt}.{c(RefreshToken, 'revoked')}, {rt}.{c(RefreshToken, 'token_family')},"
        f" {rt}.{c(RefreshToken, 'access_token')}, {at}.{c(AccessToken, 'expires')},"
        f" {at}.{c(AccessToken, 'scope')}, {user_columns}"
        f" FROM {_table(RefreshToken)} {rt}"
        f" JOIN {_table(User)} {user} ON {user}.id = {rt}.{c(RefreshToken, 'user')}"
        f" LEFT JOIN {_table(AccessToken)} {at} ON {at}.id = {rt}.{c(RefreshToken, 'access_token')}"
        f" WHERE {rt}.{c(RefreshToken, 'token_checksum')} = %s"
        # Several rows may share a checksum (unique is (checksum, revoked)): the live one first.
        f" ORDER BY CASE WHEN {rt}.{c(RefreshToken, 'revoked')} IS NULL THEN 0 ELSE 1 END,"
        f" {rt}.{c(RefreshToken, 'revoked')} DESC LIMIT 1"
    )


# --------------------------------------------------------------------------- reads and writes


def find(raw_token: str) -> StoredRefreshToken | None:
    """The presented token, its access token and its owner, in one statement."""
    with hot_sql.execute(_find_sql(), [checksum(raw_token)]) as cursor:
        row = cursor.fetchone()
    if row is None:
        return None
    (pk, application_id, user_id, revoked, family, access_id, expires, scope, *person) = row
    owner = dict(zip(_USER_FIELDS, person, strict=True))
    user = User(id=user_id, is_active=bool(owner["is_active"]), email=owner["email"],
                given_name=owner["given_name"], family_name=owner["family_name"],
                last_login=_aware(owner["last_login"]),
                password_changed_at=_aware(owner["password_changed_at"]))
    return StoredRefreshToken(
        id=pk, family=_uuid(family), access_token_id=access_id, user=user,
        facts=TokenFacts(application_id=application_id, revoked=revoked is not None,
                         access_token_expires=_aware(expires), original_scope=scope or "",
                         user_active=user.is_active))


def revoke_if_live(token: StoredRefreshToken, now: datetime) -> bool:
    """Revoke the token unless someone else did first; True if this call revoked it.

    Its access token is unlinked here and deleted by ``delete_access_token``, as the
    toolkit's ``RefreshToken.revoke`` does, so the old access token stops working.
    """
    c, stamp = _column, _prep(RefreshToken, "revoked", now)
    sql = (f"UPDATE {_table(RefreshToken)} SET {c(RefreshToken, 'revoked')} = %s,"  # noqa: S608
           f" {c(RefreshToken, 'updated')} = %s, {c(RefreshToken, 'access_token')} = NULL"
           f" WHERE id = %s AND {c(RefreshToken, 'revoked')} IS NULL")
    with hot_sql.execute(sql, [stamp, stamp, token.id]) as cursor:
        return cursor.rowcount == 1


def delete_access_token(access_token_id: int) -> None:
    """One ``DELETE``: the only row pointing at it (its refresh token) was unlinked above."""
    with hot_sql.execute(f"DELETE FROM {_table(AccessToken)} WHERE id = %s",  # noqa: S608
                         [access_token_id]):
        pass


def save_id_token(*, user_id: int, application_id: int, jti: str, expires: datetime,
                  scope: str, now: datetime) -> int:
    return hot_sql.insert(IDToken, {"jti": uuid.UUID(jti), "expires": expires, "scope": scope,
                             "created": now, "updated": now, "application": application_id,
                             "user": user_id})


def save_access_token(*, raw: str, user_id: int, application_id: int, expires: datetime,
                      scope: str, source_refresh_token_id: int | None,
                      id_token_id: int | None, now: datetime) -> int:
    return hot_sql.insert(AccessToken, {
        "token": _stored_value(raw), "token_checksum": checksum(raw), "expires": expires,
        "scope": scope, "application": application_id, "user": user_id, "created": now,
        "updated": now, "source_refresh_token": source_refresh_token_id,
        "id_token": id_token_id, "resource": []})


def save_refresh_token(*, raw: str, user_id: int, application_id: int, access_token_id: int,
                       family: uuid.UUID | None, now: datetime) -> int:
    return hot_sql.insert(RefreshToken, {
        "token": _stored_value(raw), "token_checksum": checksum(raw),
        "access_token": access_token_id, "application": application_id, "user": user_id,
        "created": now, "updated": now, "token_family": family or uuid.uuid4(),
        "resource": []})


def reissue_access_token(access_token_id: int, *, raw: str, expires: datetime, scope: str,
                         id_token_id: int | None, now: datetime) -> bool:
    """Without rotation: the refresh token stays, its access token gets a new value."""
    c = _column
    sql = (f"UPDATE {_table(AccessToken)} SET {c(AccessToken, 'token')} = %s,"  # noqa: S608
           f" {c(AccessToken, 'token_checksum')} = %s, {c(AccessToken, 'expires')} = %s,"
           f" {c(AccessToken, 'scope')} = %s, {c(AccessToken, 'id_token')} = %s,"
           f" {c(AccessToken, 'updated')} = %s WHERE id = %s")
    with hot_sql.execute(sql, [_stored_value(raw), checksum(raw),
                               _prep(AccessToken, "expires", expires), scope, id_token_id,
                               _prep(AccessToken, "updated", now), access_token_id]) as cursor:
        return cursor.rowcount == 1


def revoke_family(family: uuid.UUID | None) -> None:
    """Reuse detected: every live token of the family is revoked, their access tokens deleted.

    The toolkit's set-based ``revoke_family`` (a constant number of statements; a rare
    path). A token without a family (issued before families existed) is already
    revoked: nothing more to do.
    """
    if family:
        RefreshToken.revoke_family(family)

