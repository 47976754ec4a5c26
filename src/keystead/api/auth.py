"""Bearer-token authentication for the REST API, one scope per operation.

An absent or unusable token is a 401; a good token without the needed scope is
a 403 that names the missing scope, so an integrator knows what to ask for.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from keystead.api.models import ApiToken
from keystead.api.tokens import MissingScope, verify_token
from keystead.directory.authorization import Actor

__all__ = ["MissingScope", "ScopedToken", "actor"]


def actor(request: HttpRequest) -> Actor:
    """Who acts in this request: its API token, within its owner's permissions."""
    return Actor.token(request.auth)


class ScopedToken(HttpBearer):
    """Accepts a Keystead admin API token that carries ``scope`` (or ``admin``)."""

    openapi_description = "A Keystead API token: `keystead token create --name N --scope S`."

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        return verify_token(request, token, self.scope)
