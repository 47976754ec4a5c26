"""The token endpoint answered ahead of the browser middleware.

``POST /oauth/token/`` is called by applications, never by a browser: it uses
no session, cookie, CSRF token, signed-in user, message or static file. The
token endpoint is also the busiest address of an identity provider (every
application refreshes every few minutes), and the browser middleware that
Django runs for every request cost about a tenth of a refresh grant. This
middleware sits right after ``SecurityMiddleware`` and hands the token
endpoint's requests straight to its view; every other request goes on
through the whole stack as before.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse


class TokenEndpointFirst:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from keystead.providers.oidc.views import KeysteadTokenView

        self.get_response = get_response
        self.token_view = KeysteadTokenView.as_view()
        self.token_path: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.token_path is None:
            self.token_path = reverse("oauth2_provider:token")
        if request.path == self.token_path:
            return self.token_view(request)
        return self.get_response(request)
