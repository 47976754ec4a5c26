"""How the token endpoint answers and how it audits a refusal, for every grant.

``record_refusal`` is the one ``oidc.token_refused`` audit: Keystead's own grants
(refresh, client credentials) call it through ``refuse``, and the token view
calls it for every error answer of the toolkit's grants (code, password); the
revocation view records its error answers with it too, as
``oidc.revocation_refused``. Only
names and codes are recorded: the client id sent, the grant type, the error and
its description; never the code, token, verifier, password or secret sent.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.providers.oidc import client_auth
from keystead.providers.oidc.client_auth import credentials_from

# RFC 6749 §5.2: the 401 answer to a client that tried HTTP Basic names that scheme.
BASIC_CHALLENGE = 'Basic realm="oauth"'


TOKEN_REFUSED = "oidc.token_refused"
REVOCATION_REFUSED = "oidc.revocation_refused"


def record_refusal(request: HttpRequest, *, error: str, description: str = "",
                   action: str = TOKEN_REFUSED) -> None:
    """One Event for a token request (``oidc.token_refused``, with the grant type) or a
    revocation request (``oidc.revocation_refused``) answered with an error."""
    credentials = credentials_from(request.META.get("HTTP_AUTHORIZATION", ""), request.POST)
    client_id = credentials.client_id[:100] if credentials else ""
    detail = {"error": error[:64], "error_description": description[:200]}
    if action == TOKEN_REFUSED:
        detail = {"grant_type": request.POST.get("grant_type", "")[:64], **detail}
    audit.record(action, request=request, outcome=Outcome.DENIED,
                 actor_label=f"client {client_id or 'unauthenticated'}", detail=detail)


def refuse(request: HttpRequest, error: str, description: str = "", *, status: int = 400,
           used_basic: bool = False, reason: str = "") -> JsonResponse:
    """The RFC 6749 §5.2 error answer, audited (``record_refusal``).

    A 401 (``invalid_client``) carries a challenge: ``Basic`` when the client tried
    HTTP Basic (§5.2), otherwise the one the toolkit sends. ``reason``, when given, is
    a stable word for clients that tell the person why (§5.2 allows members beyond
    ``error``; ``refresh_rules.refusal_reason``).
    """
    record_refusal(request, error=error, description=description)
    body = {"error": error}
    if description:
        body["error_description"] = description
    if reason:
        body["reason"] = reason
    response = no_store(JsonResponse(body, status=status))
    if status == 401:
        response["WWW-Authenticate"] = (BASIC_CHALLENGE if used_basic
                                        else f'Bearer error="{error}"')
    return response


def authenticated_client(request: HttpRequest) -> Any:
    """The calling application (``client_auth.authenticate``), or the audited
    ``invalid_client`` answer to send instead."""
    try:
        return client_auth.authenticate(request.META.get("HTTP_AUTHORIZATION", ""),
                                        request.POST)
    except client_auth.InvalidClient as refused:
        return refuse(request, refused.error, refused.description, status=refused.status,
                      used_basic=refused.used_basic)


def name_basic_challenge(request: HttpRequest, response) -> None:
    """A 401 of the toolkit's (token or revocation endpoint) to a client that tried HTTP
    Basic names that scheme in its challenge (RFC 6749 §5.2; oauthlib's always says
    Bearer)."""
    if response.status_code == 401 and client_auth.tried_basic(
            request.META.get("HTTP_AUTHORIZATION", "")):
        response["WWW-Authenticate"] = BASIC_CHALLENGE


def issued(body: dict) -> JsonResponse:
    """The RFC 6749 §5.1 answer carrying tokens."""
    return no_store(JsonResponse(body))


def no_store(response: JsonResponse) -> JsonResponse:
    # RFC 6749 §5.1: token responses must not be cached.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
