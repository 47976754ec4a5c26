"""The refresh grant's reads and writes: plain SQL, as few statements as the rules allow.

django-oauth-toolkit spends 23 SQL statements on a refresh (two client lookups,
a savepoint, ``SELECT … FOR UPDATE`` of the token and of its access token, the
collector's reads before deleting, …), and building each statement through the
ORM cost more CPU than PostgreSQL spent running it. Here a rotation is one
read of the token with its access token and owner, then the writes: a
conditional ``UPDATE`` that revokes the token only if it is still live, the
``DELETE`` of its access token, and the ``INSERT``s of the new access token,
refresh token and audit Event. The new ID token is signed, not stored: nothing
reads it back (RP-initiated logout checks a hint's signature, ``id_token_hints``).
On PostgreSQL the writes are one statement (data-modifying ``WITH`` parts,
prepared once per connection, atomic without a transaction block); on SQLite,
one statement each in a transaction (``RETURNING`` needs SQLite 3.35). The
statements are built once, from the models' own table and column names.

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

# ruff: noqa: S608 -- every statement here is built from the models' own table and column
# names; values are always bound parameters.
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, transaction
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from keystead import hot_sql
from keystead.directory.models import Event, User
from keystead.hot_sql import column, table
from keystead.providers.oidc.client_auth import Companion
from keystead.providers.oidc.refresh_rules import TokenFacts

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()


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


def stored_value(raw_token: str) -> str:
    """What goes in the ``token`` column: nothing when tokens are stored hashed."""
    return "" if oauth2_settings.COMPLIANT_BCP_RFC9700_TOKEN_STORAGE else raw_token


# --------------------------------------------------------------------------- SQL


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
def _user_field_order() -> tuple[str, ...]:
    wanted = {"id", *_USER_FIELDS}
    return tuple(f.attname for f in User._meta.concrete_fields if f.attname in wanted)


@cache
def _find_sql() -> str:
    rt, at, user = "rt", "at", "u"
    user_columns = ", ".join(f"{user}.{column(User, f)}" for f in _USER_FIELDS)
    c = column
    return (
        f"SELECT {rt}.id, {rt}.{c(RefreshToken, 'application')}, {rt}.{c(RefreshToken, 'user')},"
        f" {rt}.{c(RefreshToken, 'revoked')}, {rt}.{c(RefreshToken, 'token_family')},"
        f" {rt}.{c(RefreshToken, 'access_token')}, {at}.{c(AccessToken, 'expires')},"
        f" {at}.{c(AccessToken, 'scope')}, {user_columns}"
        f" FROM {table(RefreshToken)} {rt}"
        f" JOIN {table(User)} {user} ON {user}.id = {rt}.{c(RefreshToken, 'user')}"
        f" LEFT JOIN {table(AccessToken)} {at} ON {at}.id = {rt}.{c(RefreshToken, 'access_token')}"
        f" WHERE {rt}.{c(RefreshToken, 'token_checksum')} = %s"
        # Several rows may share a checksum (unique is (checksum, revoked)): the live one first.
        f" ORDER BY CASE WHEN {rt}.{c(RefreshToken, 'revoked')} IS NULL THEN 0 ELSE 1 END,"
        f" {rt}.{c(RefreshToken, 'revoked')} DESC LIMIT 1"
    )


# --------------------------------------------------------------------------- reads and writes


def finder(raw_token: str) -> Companion:
    """The read of the presented token, its access token and its owner, to run with the
    client lookup (``client_auth.Companion``); ``found`` makes sense of its row."""
    return Companion(_find_sql(), (checksum(raw_token),))


def found(row: tuple | None) -> StoredRefreshToken | None:
    """The token the ``finder`` read, or None."""
    if row is None or row[0] is None:
        return None
    (pk, application_id, user_id, revoked, family, access_id, expires, scope, *person) = row
    loaded = dict(zip(_USER_FIELDS, person, strict=True))
    loaded.update(id=user_id, is_active=bool(loaded["is_active"]),
                  last_login=_aware(loaded["last_login"]),
                  password_changed_at=_aware(loaded["password_changed_at"]))
    # As the ORM loads a row (``from_db``, values in the model's field order): the fields
    # not read stay deferred, where the constructor would work out every field's default.
    order = _user_field_order()
    user = User.from_db(DEFAULT_DB_ALIAS, order, tuple(loaded[name] for name in order))
    return StoredRefreshToken(
        id=pk, family=_uuid(family), access_token_id=access_id, user=user,
        facts=TokenFacts(application_id=application_id, revoked=revoked is not None,
                         access_token_expires=_aware(expires), original_scope=scope or "",
                         user_active=user.is_active))


@dataclass(frozen=True)
class NewTokens:
    """What one refresh hands out, decided before anything is written."""

    now: datetime
    user_id: int
    application_id: int
    scope: str
    access_token: str
    access_expires: datetime
    refresh_token: str  # the new one (rotation) or the presented one (no rotation)
    id_token: tuple[str, datetime] | None  # (jti, expires) of the ID token to sign, if any


@contextmanager
def rotation(old: StoredRefreshToken, new: NewTokens, event: dict) -> Iterator[hot_sql.Count]:
    """Revoke ``old`` (unless someone else did first), store ``new`` in its family and write
    the audit ``event``, all or nothing, while the block runs.

    When the block has ended, the count is 1 if this request rotated the token and
    0 if ``old`` was revoked meanwhile (a concurrent presentation): nothing written.
    On PostgreSQL one statement does it all (atomic by itself, no transaction
    block to open and commit), sent before the block and answered after it, so
    the block must not use the database; elsewhere, one statement per row inside
    a transaction, before the block.
    """
    if connection.vendor == "postgresql":
        statement, params = _rotation_statement(old, new, event)
        with hot_sql.count_later(statement, params) as rotated:
            yield rotated
        return
    with transaction.atomic():
        rotated = hot_sql.Count(1 if _revoke_if_live(old, new.now) else 0)
        if rotated.value:
            _delete_access_token(old.access_token_id)
            access_id = hot_sql.insert(AccessToken, _access_row(new, old))
            hot_sql.insert(RefreshToken, _refresh_row(new, old, access_id))
            hot_sql.insert(Event, event)
    yield rotated


def access_token_row(raw_token: str, *, expires: datetime, scope: str, application_id: int,
                     user_id: int | None, now: datetime,
                     source_refresh_token_id: int | None = None) -> dict:
    """An access token's row as the toolkit stores it (``hot_sql.insert`` and ``insert_part``
    take it): the value only as its checksum when tokens are stored hashed, no ID token."""
    return {"token": stored_value(raw_token), "token_checksum": checksum(raw_token),
            "expires": expires, "scope": scope, "application": application_id,
            "user": user_id, "created": now, "updated": now,
            "source_refresh_token": source_refresh_token_id, "id_token": None, "resource": []}


def _access_row(new: NewTokens, old: StoredRefreshToken) -> dict:
    return access_token_row(new.access_token, expires=new.access_expires, scope=new.scope,
                            application_id=new.application_id, user_id=new.user_id,
                            now=new.now, source_refresh_token_id=old.id)


def _refresh_row(new: NewTokens, old: StoredRefreshToken, access_id: int | None) -> dict:
    return {"token": stored_value(new.refresh_token),
            "token_checksum": checksum(new.refresh_token), "access_token": access_id,
            "application": new.application_id, "user": new.user_id, "created": new.now,
            "updated": new.now, "token_family": old.family or uuid.uuid4(), "resource": []}


def _revoke_if_live(token: StoredRefreshToken, now: datetime) -> bool:
    """Revoke the token unless someone else did first; True if this call revoked it.

    Its access token is unlinked here and deleted next, as the toolkit's
    ``RefreshToken.revoke`` does, so the old access token stops working.
    """
    stamp = hot_sql.db_value(RefreshToken, "revoked", now)
    with hot_sql.execute(_revoke_sql(), [stamp, stamp, token.id]) as cursor:
        return cursor.rowcount == 1


@cache
def _revoke_sql() -> str:
    """Revoke one token (``id = %s``, stamps ``revoked`` and ``updated``) only if it is live."""
    c = column
    return (f"UPDATE {table(RefreshToken)} SET {c(RefreshToken, 'revoked')} = %s,"
            f" {c(RefreshToken, 'updated')} = %s, {c(RefreshToken, 'access_token')} = NULL"
            f" WHERE id = %s AND {c(RefreshToken, 'revoked')} IS NULL")


def _delete_access_token(access_token_id: int) -> None:
    """One ``DELETE``: the only row pointing at it (its refresh token) was unlinked above."""
    with hot_sql.execute(f"DELETE FROM {table(AccessToken)} WHERE id = %s",
                         [access_token_id]):
        pass


@cache
def _rotation_head_sql() -> str:
    return (f"revoked AS ({_revoke_sql()} RETURNING id),"
            f" gone AS (DELETE FROM {table(AccessToken)}"
            f" WHERE id = %s AND EXISTS (SELECT 1 FROM revoked))")


def _rotation_statement(old: StoredRefreshToken, new: NewTokens,
                        event: dict) -> tuple[str, list]:
    """PostgreSQL: the revoke, the delete and the inserts as one statement with data-modifying
    ``WITH`` parts (one round trip instead of five, no partial state to think about),
    answering how many audit Events it wrote.

    Every insert selects from ``revoked``, which holds a row only if this statement
    revoked the old token, so a lost race writes nothing.
    """
    stamp = hot_sql.db_value(RefreshToken, "revoked", new.now)
    parts = [_rotation_head_sql()]
    params: list = [stamp, stamp, old.id, old.access_token_id]
    for model, alias, row, source in (
            (AccessToken, "access", _access_row(new, old), "revoked"),
            (RefreshToken, "refresh", _refresh_row(new, old, hot_sql.Ref("access.id")), "access"),
            (Event, "event", event, "refresh")):
        sql, values = hot_sql.insert_part(model, alias, row, source)
        parts.append(sql)
        params += values
    return "WITH " + ", ".join(parts) + " SELECT count(*) FROM event", params


def reissue(old: StoredRefreshToken, new: NewTokens, event: dict) -> None:
    """Without rotation: the refresh token stays, its access token gets a new value."""
    with transaction.atomic():
        _reissue(old, new)
        hot_sql.insert(Event, event)


_REISSUED = ("token", "token_checksum", "expires", "scope", "id_token", "updated")


@cache
def _reissue_sql() -> str:
    assignments = ", ".join(f"{column(AccessToken, name)} = %s" for name in _REISSUED)
    return f"UPDATE {table(AccessToken)} SET {assignments} WHERE id = %s"


def _reissue(old: StoredRefreshToken, new: NewTokens) -> None:
    values = (stored_value(new.access_token), checksum(new.access_token), new.access_expires,
              new.scope, None, new.now)
    with hot_sql.execute(_reissue_sql(), [*hot_sql.db_values(AccessToken, _REISSUED, values),
                                          old.access_token_id]):
        pass


def revoke_family(family: uuid.UUID | None) -> None:
    """Reuse detected: every live token of the family is revoked, their access tokens deleted.

    The toolkit's set-based ``revoke_family`` (a constant number of statements; a rare
    path). A token without a family (issued before families existed) is already
    revoked: nothing more to do.
    """
    if family:
        RefreshToken.revoke_family(family)

