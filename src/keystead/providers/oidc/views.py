"""Keystead's token endpoint: DOT's, plus an audit Event for every refusal."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from oauth2_provider.views import TokenView

from keystead.directory import audit
from keystead.directory.models import Outcome

# oauthlib answers invalid_request when the redirect_uri sent to the token endpoint
# differs from the one the code was issued for; RFC 6749 §5.2 names invalid_grant.
_MISMATCHED_REDIRECT = "Mismatching redirect URI."


class KeysteadTokenView(TokenView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        if response.status_code < 400:
            return response  # issued tokens are audited by the app_authorized receiver
        try:
            body = json.loads(response.content)
        except ValueError:
            body = {}
        if (body.get("error") == "invalid_request"
                and body.get("error_description") == _MISMATCHED_REDIRECT):
            body["error"] = "invalid_grant"
            response.content = json.dumps(body).encode()
        # Only names and codes: never the code, token, verifier or secret sent.
        audit.record(
            "oidc.token_refused", request=request, outcome=Outcome.DENIED,
            actor_label=f"client {request.POST.get('client_id', '') or 'unauthenticated'}"[:255],
            detail={"grant_type": request.POST.get("grant_type", "")[:64],
                    "error": body.get("error", ""),
                    "error_description": body.get("error_description", "")[:200]},
        )
        return response
