"""The refresh-token grant (RFC 6749 §6, OpenID Connect Core §12), answered by Keystead.

The token view hands ``grant_type=refresh_token`` here instead of to
django-oauth-toolkit. Refreshes are the token endpoint's bulk traffic (every
signed-in application refreshes every few minutes), and the toolkit's path
reads the client, the token and its access token several times over, locks
them, and loads model instances the answer never uses. Here, through the ORM:
one read of the client with its token settings (``client_auth``), one of the
presented token with its access token, owner and the family's sign-in time
and granted scope (``FamilySignIn``);
the decision by the pure rules of ``refresh_rules``; then the writes and the
audit Event in one transaction, so a token is never issued without its Event.

What the client gets matches the toolkit's answer, and the rows are the
toolkit's, stored as it stores them (``set_token_value``: only the checksum
while ``COMPLIANT_BCP_RFC9700_TOKEN_STORAGE`` is on), so its introspection,
revocation, userinfo, RP-initiated logout and admin see these tokens like
their own: a new access token; a new refresh token in the same family when
the application rotates them (``ClientSettings.rotate_refresh_tokens``);
and, when ``openid`` is in the scope, a new ID token, stored as the
toolkit's ``IDToken`` (RP-initiated logout looks an ``id_token_hint`` up by
its ``jti``), whose ``iss``, ``sub``, ``aud``, ``auth_time``, ``amr`` and ``acr``
are those of the original sign-in (§12.2: ``FamilySignIn``; ``amr`` and ``acr``
left out for a family that started before they were kept) and which carries no
``nonce``.

Concurrency (several processes on PostgreSQL): the guard is the conditional
``UPDATE … SET revoked = now WHERE id = … AND revoked IS NULL``. Of two
requests presenting the same token at once, the second blocks on the first
one's row lock until that one commits, then finds the row revoked and updates
nothing: it is a replay, the family is revoked (``RefreshToken.revoke_family``,
which also revokes the winner's new token) and nothing else is written. No
``SELECT … FOR UPDATE`` beforehand is needed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_id_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
    set_token_value,
)
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import generate_token

from keystead.directory import audit
from keystead.providers.oidc import id_tokens, sign_in_methods, token_answers
from keystead.providers.oidc.claims import claims_for
from keystead.providers.oidc.grants import application_allows
from keystead.providers.oidc.models import (
    ClientSettings,
    FamilySignIn,
    settings_for,
    token_checksum,
)
from keystead.providers.oidc.refresh_rules import (
    ClientFacts,
    Refusal,
    TokenFacts,
    decide,
    live_else_latest,
    refusal_reason,
)
from keystead.providers.oidc.token_answers import issued, refuse

AccessToken = get_access_token_model()
IDToken = get_id_token_model()
RefreshToken = get_refresh_token_model()
GRANT_TYPE = "refresh_token"


def respond(request: HttpRequest) -> JsonResponse:
    """The token endpoint's answer to ``grant_type=refresh_token``."""
    raw = request.POST.get("refresh_token")
    if not raw:  # checked first, as oauthlib does
        return refuse(request, "invalid_request", "Missing refresh token parameter.")
    application = token_answers.authenticated_client(request)
    if isinstance(application, JsonResponse):
        return application
    client_settings = settings_for(application)
    stored = _presented(raw)
    now = timezone.now()
    refusal, scope = decide(_token_facts(stored), client_facts(application, client_settings),
                            request.POST.get("scope"), now)
    if refusal is Refusal.REUSED:
        RefreshToken.revoke_family(stored.token_family)
    if refusal is None:
        outcome = _exchange(request, application, client_settings, stored, raw, scope, now)
        if isinstance(outcome, dict):
            return issued(outcome)
        refusal = outcome
    return refuse(request, refusal.error, refusal.description, reason=_reason(refusal, stored))


def _reason(refusal: Refusal, stored) -> str:
    """``refresh_rules.refusal_reason`` from the token as already read (no statement)."""
    if stored is None:
        return refusal_reason(refusal)
    return refusal_reason(refusal, user_active=stored.user.is_active, issued=stored.created,
                          revoked=stored.revoked,
                          password_changed=stored.user.password_changed_at)


def client_facts(application, client_settings: ClientSettings) -> ClientFacts:
    """What the rules need to know about the calling application.

    The refresh-token lifetime is the site's (the toolkit's setting), shortened by the
    application's own if it has a shorter one.
    """
    limits = [limit for limit in (
        refresh_token_expire_timedelta(),
        timedelta(seconds=client_settings.refresh_token_seconds)
        if client_settings.refresh_token_seconds else None) if limit]
    return ClientFacts(
        application_id=application.pk,
        may_refresh=application_allows(application, GRANT_TYPE),
        refresh_lifetime=min(limits) if limits else None)


def _presented(raw: str):
    """The stored refresh token with its access token, its owner and its family's sign-in
    time, granted scope and sign-in methods (``family_auth_time``,
    ``family_granted_scope``, ``family_amr``: None or empty for a family that started
    before they were kept), in one query; None if unknown.

    Several rows may share a checksum (the toolkit's unique key is (checksum, revoked)):
    the live one first, else the one revoked last, as the toolkit reads it. They are
    few, so they are chosen here (``live_else_latest``) rather than by an ORDER BY,
    whose NULLs sort differently on SQLite and PostgreSQL.
    """
    sign_in = FamilySignIn.objects.filter(token_family=OuterRef("token_family"))
    return live_else_latest(
        RefreshToken.objects
        .filter(token_checksum=token_checksum(raw))
        .select_related("access_token", "user")
        .annotate(family_auth_time=Subquery(sign_in.values("auth_time")[:1]),
                  family_granted_scope=Subquery(sign_in.values("granted_scope")[:1]),
                  family_amr=Subquery(sign_in.values("amr")[:1]),
                  family_sid=Subquery(sign_in.values("sid")[:1])))


def _token_facts(stored) -> TokenFacts | None:
    if stored is None:
        return None
    access = stored.access_token
    return TokenFacts(application_id=stored.application_id,
                      revoked=stored.revoked is not None,
                      access_token_expires=access.expires if access is not None else None,
                      access_scope=access.scope if access is not None else "",
                      granted_scope=stored.family_granted_scope or "",
                      user_active=stored.user.is_active)


def _exchange(request: HttpRequest, application, client_settings: ClientSettings, stored,
              raw: str, scope: str, now: datetime) -> dict | Refusal:
    """The new tokens, stored with their audit Event (all or nothing); the answer's body,
    or the refusal if the token was spent or revoked since it was read."""
    user = stored.user
    rotate = client_settings.rotate_refresh_tokens
    lifetime = client_settings.access_lifetime
    access_value = generate_token()
    body = {"access_token": access_value, "expires_in": lifetime, "token_type": "Bearer",
            "scope": scope, "refresh_token": generate_token() if rotate else raw}
    id_token = None
    algorithms = {"algorithm": application.algorithm,
                  "id_token_algorithm": client_settings.id_token_algorithm}
    if "openid" in scope.split() and id_tokens.signing_key(**algorithms) is not None:
        # Signed before the transaction (the claims may read the person's groups): the
        # row locks below are then held only for the writes.
        id_token = IDToken(user=user, application=application, scope=scope, jti=uuid.uuid4(),
                           expires=now + timedelta(seconds=oauth2_settings.ID_TOKEN_EXPIRE_SECONDS))
        body["id_token"] = id_tokens.sign(
            _id_token_claims(request, application, user, scope, id_token, access_value,
                             stored.family_auth_time or user.last_login or now, now,
                             stored.family_amr, stored.family_sid),
            **algorithms)
    with transaction.atomic():
        if rotate:
            live = RefreshToken.objects.filter(pk=stored.pk, revoked__isnull=True).update(
                revoked=now, updated=now, access_token=None)
            if not live:
                # Another request rotated or revoked it since it was read: a replay.
                RefreshToken.revoke_family(stored.token_family)
                return Refusal.REUSED
            # The old access token stops working now, as with the toolkit's
            # RefreshToken.revoke(), which deletes it. Expired instead: one UPDATE, where a
            # delete reads the row and clears the references to it first; housekeeping
            # removes it with the other expired access tokens.
            AccessToken.objects.filter(pk=stored.access_token_id).update(expires=now,
                                                                         updated=now)
            access = AccessToken(user=user, application=application, source_refresh_token=stored,
                                 resource=stored.resource)
        else:
            # The access token is re-issued in place, as the toolkit does without rotation;
            # locked so a revocation meanwhile (which deletes it) is seen.
            access = AccessToken.objects.select_for_update().filter(
                pk=stored.access_token_id).first()
            if access is None:
                return Refusal.ORPHANED
        if id_token is not None:
            id_token.save()
        set_token_value(access, access_value)
        access.expires = now + timedelta(seconds=lifetime)
        access.scope = scope
        access.id_token = id_token
        if rotate:
            access.save()
            successor = RefreshToken(user=user, application=application, access_token=access,
                                     token_family=stored.token_family or uuid.uuid4(),
                                     resource=stored.resource)
            set_token_value(successor, body["refresh_token"])
            successor.save()
        else:
            access.save(update_fields=["token", "token_checksum", "expires", "scope", "id_token",
                                       "updated"])
        # Never the tokens: which application, for whom, which scopes.
        audit.record("oidc.token_issued", request=request, actor=user, target=application,
                     detail={"scope": scope, "client_id": application.client_id,
                             "grant_type": GRANT_TYPE})
    return body


def _id_token_claims(request: HttpRequest, application, user, scope: str, id_token,
                     access_value: str, auth_time: datetime, now: datetime,
                     amr: str | None, sid: str | None = None) -> dict:
    """The claims the toolkit's ID tokens carry, in its order; ``auth_time`` the original
    sign-in's (§12.2) and no ``nonce``; ``amr`` and ``acr`` the original sign-in's
    (``FamilySignIn.amr``), as the code exchange stated them; ``sid`` the original
    browser session's."""
    return {
        "aud": application.client_id,
        "iat": int(now.timestamp()),
        "at_hash": id_tokens.at_hash(access_value),
        **claims_for(user, scope.split(), application),
        "iss": oauth2_settings.oidc_issuer(request),
        "exp": int(id_token.expires.timestamp()),
        "auth_time": int(auth_time.timestamp()),
        "jti": str(id_token.jti),
        **sign_in_methods.claims(amr),
        # The original browser session's (``FamilySignIn.sid``), for back-channel logout.
        **({"sid": sid} if sid else {}),
    }
