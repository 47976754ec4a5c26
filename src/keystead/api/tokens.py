"""Issuing, revoking and checking admin API tokens, audited, for the API, SCIM, admin and CLI.

Who may issue and revoke is decided here for every door. Issuing needs the
console's permission to add tokens, a token is issued to its issuer (only a
superuser, such as the operator at the command line, names another owner), and
each scope on it must be one the issuer may grant (``grantable_scopes``: the
console permissions behind the scope; ``admin`` is a superuser's). A token made
through the API is thus never broader than the console would let its owner
make. Revoking needs the console's permission to change tokens.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NoReturn

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.api.models import ApiToken
from keystead.api.scopes import SCOPES, grants, unknown_scopes
from keystead.columns import too_long_for
from keystead.directory import audit
from keystead.directory.authorization import (
    Actor,
    NotAllowed,
    may_use_scope,
    recorded_for_good,
    require_permission,
)
from keystead.directory.models import Outcome
from keystead.directory.rules import FieldProblem
from keystead.directory.services import RuleViolation
from keystead.secret import Secret

ADD_TOKENS = "api.add_apitoken"
REVOKE_TOKENS = "api.change_apitoken"

_USER_WRITE = ("directory.add_user", "directory.change_user", "directory.delete_user",
               "directory.view_user", "directory.set_user_password")
_GROUP_WRITE = ("directory.add_group", "directory.change_group", "directory.delete_group",
                "directory.view_group")

#: The console permissions an issuer needs to grant each scope; a scope missing here
#: (``admin``) only a superuser grants.
GRANT_NEEDS: dict[str, frozenset[str]] = {scope: frozenset(needed) for scope, needed in {
    "users:read": ("directory.view_user",),
    "users:write": _USER_WRITE,
    "groups:read": ("directory.view_group",),
    "groups:write": _GROUP_WRITE,
    "roles:read": ("directory.view_role",),
    "roles:write": ("directory.add_role", "directory.change_role", "directory.delete_role",
                    "directory.view_role"),
    "events:read": ("directory.view_event",),
    "policy:read": ("policy.view_logonpolicy",),
    "policy:write": ("directory.manage_policy",),
    "clients:read": ("oauth2_provider.view_application",),
    "clients:write": ("oauth2_provider.add_application", "oauth2_provider.change_application",
                      "oauth2_provider.delete_application"),
    "provisioning:read": ("provisioning.view_system",),
    "provisioning:write": ("provisioning.add_system", "provisioning.change_system",
                           "provisioning.delete_system", "provisioning.change_operation"),
    "scim": _USER_WRITE + _GROUP_WRITE,
}.items()}


def grantable_scopes(actor: Actor) -> list[str]:
    """The scopes ``actor`` may put on a token, in the order of ``SCOPES``: what the
    console offers and what every door accepts."""
    if actor.superuser:
        return list(SCOPES)
    return [scope for scope in SCOPES
            if scope in GRANT_NEEDS and GRANT_NEEDS[scope] <= actor.permissions]


def _refuse(actor: Actor, reason: str, *, request: HttpRequest | None, door: str,
            scopes: list[str]) -> NoReturn:
    audit.record("api_token.create", request=request, actor=actor.user,
                 actor_label=actor.label, outcome=Outcome.DENIED,
                 detail={"door": door, "scopes": scopes, "reason": reason})
    raise NotAllowed(f"{actor.label} may not {reason}.", audited=recorded_for_good())


def _require_issue(actor: Actor, *, scopes: list[str], owner, request: HttpRequest | None,
                   door: str) -> None:
    """Checked before the token's transaction, so the refusal's event stays recorded."""
    require_permission(actor, ADD_TOKENS, "issue API tokens", "api_token.create",
                       request=request, detail={"door": door, "scopes": scopes})
    own = owner is not None and actor.user is not None and owner.pk == actor.user.pk
    if not (actor.superuser or own):
        _refuse(actor, "issue a token for someone else (only a superuser may)",
                request=request, door=door, scopes=scopes)
    grantable = grantable_scopes(actor)
    beyond = [scope for scope in scopes if scope in SCOPES and scope not in grantable]
    if beyond:
        _refuse(actor, f"grant the scope(s) {', '.join(beyond)}: a token is never broader "
                "than its issuer's own permissions", request=request, door=door,
                scopes=scopes)


#: The longest lifetime a token may be given, in days (ten years), at every door: the
#: console's form and the API's schema allow the same; far more overflows a date.
MAX_DAYS = settings.API_TOKEN_MAX_DAYS

def token_expiry(actor: Actor, days: int | None, *, now: datetime
                 ) -> tuple[datetime | None, FieldProblem | None]:
    """When a new token expires (None: never), or why the lifetime asked for is refused.

    ``days`` None takes the installation's default, 0 means never. A token made by a
    token never outlives the one that made it, so a short-lived token cannot mint a
    lasting one: the default is cut short to its end, a longer lifetime asked for is
    refused."""
    if days is not None and not 0 <= days <= MAX_DAYS:
        return None, FieldProblem("days", f"Days must be from 0 (never expires) to {MAX_DAYS} "
                                          "(ten years).")
    lifetime = settings.API_TOKEN_DEFAULT_DAYS if days is None else days
    wanted = now + timedelta(days=lifetime) if lifetime > 0 else None
    limit = actor.expires_at
    if limit is None or (wanted is not None and wanted <= limit):
        return wanted, None
    if days is None:
        return limit, None
    whole_days = (limit - now).days
    within = f"give at most {whole_days} days (not 0) or " if whole_days >= 1 else ""
    return None, FieldProblem("days", (
        f"The token making this one expires on {limit:%Y-%m-%d %H:%M} UTC and a token it "
        f"makes cannot outlive it: {within}leave days out to have it end with that one."))


def issue_token(
    *, name: str, scopes: list[str], actor: Actor, owner=None, days: int | None = None,
    request: HttpRequest | None = None, door: str = "api",
) -> tuple[ApiToken, Secret]:
    """A new token and its clear value, shown once. Every field is checked here, not in
    the doors, so the console, the API and the CLI give the same answer to the same
    input and nothing the columns cannot hold reaches the database."""
    _require_issue(actor, scopes=scopes, owner=owner, request=request, door=door)
    problems = []
    if not name.strip():
        problems.append(FieldProblem("name", "Name is required: say what the token is for."))
    elif longest := too_long_for(ApiToken, "name", name.strip()):
        problems.append(FieldProblem("name", f"Name must be at most {longest} characters "
                                             f"(this one has {len(name.strip())}): shorten it."))
    if not scopes:
        problems.append(FieldProblem("scopes", "Give at least one scope, e.g. users:read."))
    bad = unknown_scopes(scopes)
    if bad:
        problems.append(FieldProblem("scopes", f"Unknown scope(s): {', '.join(bad)}."))
    expires_at, problem = token_expiry(actor, days, now=timezone.now())
    problems.extend([problem] if problem else [])
    if problems:
        raise RuleViolation(problems)
    with transaction.atomic():
        token, clear = ApiToken.issue(name=name.strip(), scopes=scopes, owner=owner,
                                      expires_at=expires_at)
        audit.record("api_token.create", request=request, actor=owner, target=token,
                     detail={"door": door, "scopes": scopes, "key_id": token.key_id})
    return token, Secret(clear)


def revoke_token(token: ApiToken, *, actor: Actor, request: HttpRequest | None = None,
                 door: str = "api") -> None:
    require_permission(actor, REVOKE_TOKENS, "revoke API tokens", "api_token.revoke",
                       request=request, detail={"door": door, "key_id": token.key_id})
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
                         "owner may.", audited=recorded_for_good())
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    owner = token.owner.email if token.owner else "token"
    request.audit_actor_label = f"{owner} (token {token.key_id})"
    if token.owner is not None:
        request.user = token.owner
    return token
