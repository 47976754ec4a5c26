"""Issuing, revoking and checking admin API tokens, audited, for the API, SCIM, admin and CLI."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.api.models import ApiToken
from keystead.api.scopes import grants, unknown_scopes
from keystead.directory import audit
from keystead.directory.authorization import Actor, NotAllowed, may_use_scope
from keystead.directory.models import Outcome
from keystead.directory.rules import FieldProblem
from keystead.directory.services import RuleViolation
from keystead.secret import Secret


def issue_token(
    *, name: str, scopes: list[str], owner=None, days: int | None = None,
    request: HttpRequest | None = None, door: str = "api",
) -> tuple[ApiToken, Secret]:
    problems = []
    if not name.strip():
        problems.append(FieldProblem("name", "Name is required: say what the token is for."))
    if not scopes:
        problems.append(FieldProblem("scopes", "Give at least one scope, e.g. users:read."))
    bad = unknown_scopes(scopes)
    if bad:
        problems.append(FieldProblem("scopes", f"Unknown scope(s): {', '.join(bad)}."))
    if days is not None and days < 0:
        problems.append(FieldProblem("days", "Days must be 0 (never expires) or more."))
    if problems:
        raise RuleViolation(problems)
    with transaction.atomic():
        token, clear = ApiToken.issue(name=name.strip(), scopes=scopes, owner=owner, days=days)
        audit.record("api_token.create", request=request, actor=owner, target=token,
                     detail={"door": door, "scopes": scopes, "key_id": token.key_id})
    return token, Secret(clear)


def revoke_token(token: ApiToken, *, request: HttpRequest | None = None,
                 door: str = "api") -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    audit.record("api_token.revoke", request=request, target=token,
                 detail={"door": door, "key_id": token.key_id})


def bearer_from(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class MissingScope(Exception):
    """A usable token without the scope an operation needs (HTTP 403, not 401)."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"This token lacks the {scope!r} scope.")


def verify_token(request: HttpRequest, clear: str, needed_scope: str) -> ApiToken | None:
    """Return the token if ``clear`` is usable; raise MissingScope if it lacks the scope.

    Marks the request so audit events name the token's owner as the actor.
    A refusal is audited with the token's public id only, never the token.
    """
    token = ApiToken.find(clear)
    if token is None:
        audit.record("api.auth", request=request, outcome=Outcome.DENIED,
                     actor_label="anonymous",
                     detail={"reason": "unknown, expired or revoked token"})
        return None
    if not grants(token.scopes, needed_scope):
        audit.record("api.auth", request=request, outcome=Outcome.DENIED, actor=token.owner,
                     detail={"reason": "missing scope", "needed": needed_scope,
                             "key_id": token.key_id})
        raise MissingScope(needed_scope)
    if not may_use_scope(Actor.token(token), needed_scope):
        audit.record("api.auth", request=request, outcome=Outcome.DENIED, actor=token.owner,
                     detail={"reason": "owner lacks the scope's permissions",
                             "needed": needed_scope, "key_id": token.key_id})
        raise NotAllowed(f"This token's owner does not hold the permissions the "
                         f"{needed_scope!r} scope needs: a token never does more than its "
                         "owner may.")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    owner = token.owner.email if token.owner else "token"
    request.audit_actor_label = f"{owner} (token {token.key_id})"
    if token.owner is not None:
        request.user = token.owner
    return token
