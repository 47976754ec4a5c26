"""The refresh-token grant (RFC 6749 §6, OpenID Connect Core §12), answered by Keystead itself.

The token endpoint hands ``grant_type=refresh_token`` here instead of to
django-oauth-toolkit: the toolkit's path costs about 13 ms of CPU and 23 SQL
statements per refresh, and refreshes are the token endpoint's bulk traffic
(every signed-in application refreshes every few minutes). This path reads
the client and the token once each, decides with ``refresh_rules``, writes
with ``refresh_store`` and audits in the same transaction, so a token is never
issued without its audit Event.

What the client gets matches the toolkit's answer: a new access token, a new
refresh token when the application rotates them (the old one stops working;
presenting it again revokes the whole family), and, when ``openid`` is in the
scope, a new ID token whose ``iss``, ``sub``, ``aud`` and ``auth_time`` are
those of the original sign-in (§12.2) and which carries no ``nonce``.
"""

from __future__ import annotations

import secrets
import uuid
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

from keystead.directory import audit
from keystead.directory.models import User
from keystead.providers.oidc import id_tokens, refresh_store, token_answers
from keystead.providers.oidc.claims import claims_for
from keystead.providers.oidc.client_auth import Client
from keystead.providers.oidc.grants import grant_allowed
from keystead.providers.oidc.refresh_rules import ClientFacts, Refusal, decide

GRANT_TYPE = "refresh_token"


def respond(request: HttpRequest) -> JsonResponse:
    """The token endpoint's answer to ``grant_type=refresh_token``."""
    raw = request.POST.get("refresh_token", "")
    # The token is read by the client lookup's own statement: one round trip.
    authenticated = token_answers.authenticated_client(
        request, GRANT_TYPE, refresh_store.finder(raw) if raw else None)
    if isinstance(authenticated, JsonResponse):
        return authenticated
    client, token_row = authenticated
    if not raw:
        return token_answers.refuse(request, GRANT_TYPE, "invalid_request",
                                    "The refresh_token parameter is missing.",
                                    reason="missing token", client=client)
    outcome = _exchange(request, client, raw, refresh_store.found(token_row), timezone.now())
    if isinstance(outcome, Refusal):
        return token_answers.refuse(request, GRANT_TYPE, outcome.error, outcome.description,
                                    reason=outcome.value, client=client)
    return token_answers.issued(outcome)


def client_facts(client: Client) -> ClientFacts:
    """What the rules need to know about the calling application."""
    lifetime = client.refresh_lifetime
    return ClientFacts(
        application_id=client.pk,
        may_refresh=grant_allowed(GRANT_TYPE, registered_grant=client.registered_grant,
                                  allowed_grants=client.allowed_grants,
                                  issue_refresh_tokens=client.issue_refresh_tokens),
        refresh_lifetime=timedelta(seconds=lifetime) if lifetime else None,
    )


def _exchange(request: HttpRequest, client: Client, raw: str,
              stored: refresh_store.StoredRefreshToken | None, now: datetime) -> dict | Refusal:
    """The decision, then the writes with the audit Event (all or nothing); the response body.

    No transaction around the read: the write revokes the presented token only if it is
    still live, so what was read cannot have changed in a way that matters unseen.
    """
    refusal, scope = decide(stored.facts if stored else None, client_facts(client),
                            request.POST.get("scope"), now)
    if refusal is Refusal.REUSED:
        refresh_store.revoke_family(stored.family)
    if refusal is not None:
        return refusal
    user = stored.user
    scopes = scope.split()
    lifetime = client.access_lifetime
    new = refresh_store.NewTokens(
        now=now, user_id=user.pk, application_id=client.pk, scope=scope,
        access_token=secrets.token_urlsafe(32), access_expires=now + timedelta(seconds=lifetime),
        refresh_token=secrets.token_urlsafe(32) if client.rotate_refresh_tokens else raw,
        id_token=(str(uuid.uuid4()),
                  now + timedelta(seconds=oauth2_settings.ID_TOKEN_EXPIRE_SECONDS))
        if "openid" in scopes else None)
    # Never the tokens: which application, for whom, which scopes.
    event = audit.build("oidc.token_issued", request=request, actor=user,
                        target=client.audit_target,
                        detail={"scope": scope, "client_id": client.client_id,
                                "grant_type": GRANT_TYPE})
    # The claims may read the database (the person's groups): before the writes go out.
    claims = _id_token_claims(request, client, user, scopes, new) if new.id_token else None
    if client.rotate_refresh_tokens:
        writes = refresh_store.rotation(stored, new, event)
    else:
        refresh_store.reissue(stored, new, event)
        writes = nullcontext(None)
    with writes as rotated:  # PostgreSQL runs and commits the rotation meanwhile
        body = {"access_token": new.access_token, "expires_in": lifetime,
                "token_type": "Bearer", "scope": scope, "refresh_token": new.refresh_token}
        if claims is not None:
            body["id_token"] = id_tokens.sign(claims, algorithm=client.algorithm,
                                              id_token_algorithm=client.id_token_algorithm)
    if rotated is not None and rotated.value != 1:
        # Another request rotated it between our read and our write: a replay.
        refresh_store.revoke_family(stored.family)
        return Refusal.REUSED
    audit.mirror_to_log(event)
    return body


def _id_token_claims(request: HttpRequest, client: Client, user: User, scopes: list[str],
                     new: refresh_store.NewTokens) -> dict:
    """The refreshed ID token's claims: those of the original sign-in (§12.2), no nonce."""
    jti, expires = new.id_token
    return {
        "aud": client.client_id,
        "iat": int(new.now.timestamp()),
        "at_hash": id_tokens.at_hash(new.access_token),
        **claims_for(user, scopes),
        "iss": id_tokens.issuer(request),
        "exp": int(expires.timestamp()),
        "auth_time": int((user.last_login or new.now).timestamp()),
        "jti": jti,
    }
