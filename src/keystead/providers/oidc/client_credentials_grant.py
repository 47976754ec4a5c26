"""The client-credentials grant (RFC 6749 §4.4), answered by Keystead itself.

An application acting as itself (a service, the endpoint agent's machine
account) asks for an access token with its own credentials. The toolkit's path
spent about 6 ms of CPU and a dozen SQL statements on it; this one reads the
client once and writes the access token with its audit Event in one statement
on PostgreSQL (a transaction of two on SQLite).

The answer matches the toolkit's: an opaque access token for no person, no
refresh token (§4.4.3), the requested scope if every scope in it is one
Keystead offers (otherwise ``invalid_scope``), or the site's default scope.
Only a confidential client whose allowed grants include client credentials
gets one (``unauthorized_client`` otherwise).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from oauth2_provider.settings import oauth2_settings

from keystead import hot_sql
from keystead.directory import audit
from keystead.directory.models import Event
from keystead.providers.oidc import token_answers
from keystead.providers.oidc.client_auth import Application, Client
from keystead.providers.oidc.grants import grant_allowed
from keystead.providers.oidc.refresh_store import access_token_row

AccessToken = get_access_token_model()
GRANT_TYPE = "client_credentials"


def granted_scope(requested: str | None) -> str | None:
    """The scope to grant: the requested one if Keystead offers all of it, else None;
    the site's default scope when none is requested."""
    if requested is None or not requested.strip():
        return " ".join(oauth2_settings.DEFAULT_SCOPES)
    scopes = list(dict.fromkeys(requested.split()))
    if not set(scopes) <= set(oauth2_settings.SCOPES):
        return None
    return " ".join(scopes)


def may_use(client: Client) -> bool:
    """A confidential client with client credentials among its allowed grants."""
    return client.client_type == Application.CLIENT_CONFIDENTIAL and grant_allowed(
        GRANT_TYPE, registered_grant=client.registered_grant,
        allowed_grants=client.allowed_grants, issue_refresh_tokens=client.issue_refresh_tokens)


def respond(request: HttpRequest) -> JsonResponse:
    """The token endpoint's answer to ``grant_type=client_credentials``."""
    found = token_answers.authenticated_client(request, GRANT_TYPE)
    if isinstance(found, JsonResponse):
        return found
    client, _ = found
    if not may_use(client):
        return token_answers.refuse(
            request, GRANT_TYPE, "unauthorized_client",
            "This client may not use the client_credentials grant.",
            reason="grant not allowed for the client", client=client)
    scope = granted_scope(request.POST.get("scope"))
    if scope is None:
        return token_answers.refuse(
            request, GRANT_TYPE, "invalid_scope",
            f"Unknown scope; Keystead offers: {' '.join(oauth2_settings.SCOPES)}.",
            reason="unknown scope", client=client)
    now = timezone.now()
    lifetime = client.access_lifetime
    token = secrets.token_urlsafe(32)
    access = access_token_row(token, expires=now + timedelta(seconds=lifetime), scope=scope,
                              application_id=client.pk, user_id=None, now=now)
    # Never the token: which application, which scopes.
    event = audit.build("oidc.token_issued", request=request, target=client.audit_target,
                        actor_label=f"client {client.client_id}",
                        detail={"scope": scope, "client_id": client.client_id,
                                "grant_type": GRANT_TYPE})
    with _storing(access, event):  # the answer is built while PostgreSQL writes
        answer = token_answers.issued({"access_token": token, "expires_in": lifetime,
                                       "token_type": "Bearer", "scope": scope})
    audit.mirror_to_log(event)
    return answer


@contextmanager
def _storing(access: dict, event: dict) -> Iterator[None]:
    """The access token and its audit Event, all or nothing, written by the end of the block
    (on PostgreSQL one statement, in flight while the block runs)."""
    if connection.vendor == "postgresql":
        first, first_params = hot_sql.insert_part(AccessToken, "access", access, "(SELECT 1) one")
        second, second_params = hot_sql.insert_part(Event, "event", event, "access")
        with hot_sql.count_later(f"WITH {first}, {second} SELECT count(*) FROM event",  # noqa: S608
                                 first_params + second_params):
            yield
        return
    with transaction.atomic():
        hot_sql.insert(AccessToken, access)
        hot_sql.insert(Event, event)
    yield
