"""How Keystead's own token-endpoint handlers answer: RFC 6749 §5.1 and §5.2, audited.

Shared by the refresh grant and the client-credentials grant, so both
authenticate the client, refuse and audit the same way.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.providers.oidc import client_auth
from keystead.providers.oidc.client_auth import Client


def authenticated_client(request: HttpRequest, grant_type: str,
                         companion: client_auth.Companion | None = None,
                         ) -> tuple[Client, tuple | None] | JsonResponse:
    """The calling application (and the companion query's row, see ``client_auth``), or
    the ``invalid_client`` answer (already audited)."""
    try:
        return client_auth.authenticate(request, companion)
    except client_auth.InvalidClient as refused:
        answer = refuse(request, grant_type, "invalid_client", refused.description,
                        reason="client authentication failed", status=401)
        if refused.used_basic:  # RFC 6749 §5.2: answer with the scheme the client used
            answer["WWW-Authenticate"] = 'Basic realm="oauth"'
        return answer


def refuse(request: HttpRequest, grant_type: str, error: str, description: str, *,
           reason: str, client: Client | None = None, status: int = 400) -> JsonResponse:
    """The error answer, with an ``oidc.token_refused`` Event naming the reason.

    Only names and codes are recorded: never the token, code or secret sent.
    """
    client_id = client.client_id if client is not None else (
        request.POST.get("client_id", "") or "unauthenticated")
    audit.record("oidc.token_refused", request=request, outcome=Outcome.DENIED,
                 actor_label=f"client {client_id}"[:255],
                 detail={"grant_type": grant_type, "error": error,
                         "error_description": description, "reason": reason})
    return no_store(JsonResponse({"error": error, "error_description": description},
                                 status=status))


def issued(body: dict) -> JsonResponse:
    return no_store(JsonResponse(body))


def no_store(response: JsonResponse) -> JsonResponse:
    # RFC 6749 §5.1: token responses must not be cached.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
