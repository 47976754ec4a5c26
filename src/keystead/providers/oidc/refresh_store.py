"""The refresh grant's reads and writes, as few statements as the rules allow.

django-oauth-toolkit spends 23 SQL statements on a refresh (two client lookups,
a savepoint, ``SELECT … FOR UPDATE`` of the token and of its access token, the
collector's reads before deleting, …). Here a rotation is: one read of the
token with its access token and owner, one conditional ``UPDATE`` that revokes
it only if it is still live, one ``DELETE`` of its access token, and the
``INSERT``s of the new ID token, access token and refresh token.

Concurrency (PostgreSQL, several processes): the conditional ``UPDATE … WHERE
revoked IS NULL`` is the guard. Of two requests presenting the same token, the
second blocks on the first one's row lock, then finds the row revoked and
updates nothing; the grant treats that as reuse. No ``SELECT … FOR UPDATE``
is needed, so the row is locked only for the rest of the transaction.

Tokens are stored as the toolkit stores them (``set_token_value``: only the
SHA-256 checksum, RFC 9700 token storage), so the toolkit's introspection,
revocation, userinfo and admin pages see these tokens like their own.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import F
from oauth2_provider.models import (
    get_access_token_model,
    get_id_token_model,
    get_refresh_token_model,
    set_token_value,
)

from keystead.providers.oidc.refresh_rules import TokenFacts

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
IDToken = get_id_token_model()


@dataclass(frozen=True)
class StoredRefreshToken:
    id: int
    user_id: int
    family: uuid.UUID | None
    access_token_id: int | None
    facts: TokenFacts


def checksum(raw_token: str) -> str:
    """How the toolkit finds a token stored hashed (``TokenChecksumField``)."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


def find(raw_token: str) -> StoredRefreshToken | None:
    """The presented token with what the rules need, in one statement (a live row first)."""
    row = (RefreshToken.objects.filter(token_checksum=checksum(raw_token))
           .order_by(F("revoked").desc(nulls_first=True))
           .values_list("id", "application_id", "user_id", "revoked", "token_family",
                        "access_token_id", "access_token__expires", "access_token__scope",
                        "user__is_active")
           .first())
    if row is None:
        return None
    (pk, application_id, user_id, revoked, family, access_id, expires, scope, active) = row
    return StoredRefreshToken(
        id=pk, user_id=user_id, family=family, access_token_id=access_id,
        facts=TokenFacts(application_id=application_id, revoked=revoked is not None,
                         access_token_expires=expires, original_scope=scope or "",
                         user_active=bool(active)))


def revoke_if_live(token: StoredRefreshToken, now: datetime) -> bool:
    """Revoke the token unless someone else did first; True if this call revoked it.

    The access token is unlinked here and deleted by ``delete_access_token``, as the
    toolkit's ``RefreshToken.revoke`` does, so the old access token stops working.
    """
    return RefreshToken.objects.filter(pk=token.id, revoked__isnull=True).update(
        revoked=now, updated=now, access_token=None) == 1


def delete_access_token(access_token_id: int) -> None:
    """One ``DELETE``: the only row pointing at it (its refresh token) was unlinked above."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AccessToken._meta.db_table} WHERE id = %s",  # noqa: S608
                       [access_token_id])


def save_id_token(*, user_id: int, application_id: int, jti: str, expires: datetime,
                  scope: str) -> int:
    stored = IDToken(user_id=user_id, application_id=application_id, jti=jti, expires=expires,
                     scope=scope)
    stored.save(force_insert=True)
    return stored.pk


def save_access_token(*, raw: str, user_id: int, application_id: int, expires: datetime,
                      scope: str, source_refresh_token_id: int | None,
                      id_token_id: int | None) -> int:
    access = AccessToken(user_id=user_id, application_id=application_id, expires=expires,
                         scope=scope, source_refresh_token_id=source_refresh_token_id,
                         id_token_id=id_token_id)
    set_token_value(access, raw)
    access.save(force_insert=True)
    return access.pk


def save_refresh_token(*, raw: str, user_id: int, application_id: int, access_token_id: int,
                       family: uuid.UUID | None) -> None:
    refresh = RefreshToken(user_id=user_id, application_id=application_id,
                           access_token_id=access_token_id, token_family=family or uuid.uuid4())
    set_token_value(refresh, raw)
    refresh.save(force_insert=True)


def reissue_access_token(access_token_id: int, *, raw: str, expires: datetime, scope: str,
                         id_token_id: int | None, now: datetime) -> bool:
    """Without rotation: the refresh token stays, its access token gets a new value."""
    access = AccessToken()
    set_token_value(access, raw)  # clear or redacted, as the toolkit is configured
    return AccessToken.objects.filter(pk=access_token_id).update(
        token=access.token, token_checksum=checksum(raw), expires=expires, scope=scope,
        id_token_id=id_token_id, updated=now) == 1


def revoke_family(family: uuid.UUID | None) -> None:
    """Reuse detected: every live token of the family is revoked, their access tokens deleted.

    The toolkit's set-based ``revoke_family`` (a constant number of statements). A token
    without a family (issued before families existed) is already revoked: nothing to do.
    """
    if family:
        RefreshToken.revoke_family(family)
