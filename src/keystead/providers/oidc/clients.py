"""Registering OpenID Connect applications outside the admin console (REST API).

The rules a registration must follow, as plain checks that name the field:

- Redirect URIs are compared exactly, so each must be a complete absolute
  address: ``https``, or ``http`` only for the loopback interface
  (``localhost``, ``127.0.0.1``, ``[::1]``; RFC 8252 §7.3 for tools on the
  person's own computer). No fragment (RFC 6749 §3.1.2), no wildcard, no
  whitespace, no user name or password.
- An application lists the grants it may use (``grants``): at least one of
  authorization-code, client-credentials and password. The password grant is
  never allowed unless listed.
- The authorization-code grant needs at least one redirect URI.
- A public client can only use the authorization-code grant (with PKCE): it
  has no secret to authenticate client credentials or password grants with.

Confidential clients get a secret generated here and returned once; it is
stored hashed (django-oauth-toolkit hashes it on save).

An application decides who may sign in where and with which grants, so
registering, changing and deleting one each need the console's permission for
it (``oauth2_provider.add_application`` / ``change_`` / ``delete_``), asked
here for every door; a refusal is audited.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.http import HttpRequest
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from keystead.directory import audit
from keystead.directory.authorization import Actor, require_permission
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.providers.oidc import grants
from keystead.providers.oidc.models import ClientSettings, settings_for
from keystead.row_locks import lock_and_read_again

Application = get_application_model()

LOOPBACK = {"localhost", "127.0.0.1", "::1"}
MAX_URI_LENGTH = 2000
SETTINGS_FIELDS = ("issue_refresh_tokens", "rotate_refresh_tokens", "access_token_seconds",
                   "refresh_token_seconds", "id_token_algorithm", "subject_type",
                   "sector_identifier", "backchannel_logout_uri",
                   "backchannel_logout_session_required")


def redirect_uri_problem(uri: str) -> str | None:
    """What is wrong with one redirect URI, or None."""
    if not uri:
        return "must not be empty"
    if len(uri) > MAX_URI_LENGTH:
        return f"must be at most {MAX_URI_LENGTH} characters"
    if any(c.isspace() for c in uri) or "*" in uri:
        return f"{uri!r} must be one exact address: no spaces and no wildcards"
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return f"{uri!r} is not a valid address"
    if parts.scheme not in {"https", "http"} or not host:
        return f"{uri!r} must be an absolute https:// address (http:// only for localhost)"
    if parts.scheme == "http" and host not in LOOPBACK:
        return (f"{uri!r} must use https://; http:// is accepted only for localhost, "
                "127.0.0.1 and [::1]")
    if parts.fragment or uri.endswith("#"):
        return f"{uri!r} must not contain a fragment (#...)"
    if parts.username is not None or parts.password is not None:
        return f"{uri!r} must not contain a user name or password"
    return None


def _uri_problems(uris: list[str], field: str) -> list[FieldProblem]:
    problems = []
    for index, uri in enumerate(uris):
        message = redirect_uri_problem(uri)
        if message:
            problems.append(FieldProblem(f"{field}.{index}", message, "redirect_uri"))
    if len(set(uris)) != len(uris):
        problems.append(FieldProblem(field, "lists the same address twice", "duplicate"))
    return problems


def registration_problems(*, client_type: str, grant_types: list[str], redirect_uris: list[str],
                          post_logout_redirect_uris: list[str],
                          name: str, backchannel_logout_uri: str = "") -> list[FieldProblem]:
    """Everything wrong with a registration, each naming its field (API names)."""
    problems = []
    if not name.strip():
        problems.append(FieldProblem("name", "must not be blank", "blank"))
    if backchannel_logout_uri:
        # The same rules as a redirect URI: https (http only on loopback), no fragment
        # (Back-Channel Logout §2.2), one exact address.
        message = redirect_uri_problem(backchannel_logout_uri)
        if message:
            problems.append(FieldProblem("backchannel_logout_uri", message, "uri"))
    problems += _uri_problems(redirect_uris, "redirect_uris")
    problems += _uri_problems(post_logout_redirect_uris, "post_logout_redirect_uris")
    unknown = sorted(set(grant_types) - set(grants.NAMES))
    if unknown:
        problems.append(FieldProblem(
            "grant_types", f"{', '.join(unknown)} is not offered; choose from "
                           f"{', '.join(grants.NAMES)}", "choice"))
    elif not grant_types:
        problems.append(FieldProblem(
            "grant_types", f"must list at least one grant ({', '.join(grants.NAMES)})",
            "required"))
    if grants.AUTHORIZATION_CODE in grant_types and not redirect_uris:
        problems.append(FieldProblem(
            "redirect_uris", "the authorization-code grant needs at least one redirect URI",
            "required"))
    if client_type == Application.CLIENT_PUBLIC and set(grant_types) - {grants.AUTHORIZATION_CODE}:
        problems.append(FieldProblem(
            "grant_types", "a public client has no secret, so it can only use "
                           "authorization-code (with PKCE); register it as confidential",
            "public_client"))
    return problems


def allowed_grants_of(app) -> list[str]:
    """The grants ``app`` may use, in display order (its list, or its one toolkit grant)."""
    return grants.ordered(grants.effective_grants(app.authorization_grant_type,
                                                  settings_for(app).allowed_grants))


def _check(**registration: Any) -> None:
    problems = registration_problems(**registration)
    if problems:
        raise RuleViolation(problems)


def record(action: str, app, request: HttpRequest | None, door: str, **extra: Any) -> None:
    audit.record(action, request=request, target=app,
                 detail={"client_id": app.client_id, "name": app.name, "door": door, **extra})


def require_on_application(actor: Actor, verb: str, words: str, event: str, *,
             request: HttpRequest | None, door: str, **detail: Any) -> None:
    """The console's permission to ``verb`` applications, asked by every service that
    changes one (its settings, its secret, its tokens) before the change's transaction,
    so the refusal's ``event`` stays recorded."""
    require_permission(actor, f"oauth2_provider.{verb}_application", words, event,
                       request=request, detail={"door": door, **detail})


def register_client(*, name: str, client_type: str, grant_types: list[str],
                    redirect_uris: list[str], post_logout_redirect_uris: list[str],
                    skip_consent: bool, settings: dict[str, Any], actor: Actor,
                    request: HttpRequest | None = None, door: str = "api"):
    """Create an application; returns it and its clear secret ("" for public clients)."""
    require_on_application(actor, "add", "register applications", "oidc.client_registered",
             request=request, door=door, name=name)
    _check(client_type=client_type, grant_types=grant_types, redirect_uris=redirect_uris,
           post_logout_redirect_uris=post_logout_redirect_uris, name=name,
           backchannel_logout_uri=settings.get("backchannel_logout_uri") or "")
    allowed = grants.ordered(grant_types)
    secret = generate_client_secret() if client_type == Application.CLIENT_CONFIDENTIAL else ""
    with transaction.atomic():
        app = Application.objects.create(
            name=name.strip(), client_type=client_type,
            authorization_grant_type=grants.main_grant(allowed),
            redirect_uris=" ".join(redirect_uris),
            post_logout_redirect_uris=" ".join(post_logout_redirect_uris),
            client_secret=secret, skip_authorization=skip_consent,
            algorithm=Application.RS256_ALGORITHM,
        )
        ClientSettings.objects.create(application=app, allowed_grants=allowed, **settings)
        record("oidc.client_registered", app, request, door,
                client_type=client_type, grant_types=allowed)
    return app, secret


def change_client(app, *, changes: dict[str, Any], actor: Actor,
                  request: HttpRequest | None = None, door: str = "api"):
    """Apply ``changes`` (only the keys given) to an application and its token settings.

    ``grant_types`` replaces the allowed grants; a change of grants is recorded
    with the grants before and after.
    """
    require_on_application(actor, "change", "change applications", "oidc.client_changed",
             request=request, door=door, client_id=app.client_id)
    with transaction.atomic():
        # Not the secret: a new one set meanwhile stays (client_secrets.new_client_secret).
        lock_and_read_again(app, "application")
        name = changes.get("name", app.name)
        redirect_uris = changes.get("redirect_uris", app.redirect_uris.split())
        post_logout = changes.get("post_logout_redirect_uris",
                                  app.post_logout_redirect_uris.split())
        before = allowed_grants_of(app)
        allowed = grants.ordered(changes["grant_types"]) if "grant_types" in changes else before
        _check(client_type=app.client_type,
               grant_types=list(changes.get("grant_types", allowed)),
               redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout, name=name,
               backchannel_logout_uri=changes.get("backchannel_logout_uri") or "")
        extra: dict[str, Any] = {}
        if allowed != before:
            extra["grant_types"] = {"before": before, "after": allowed}
        app.name = name.strip()
        app.redirect_uris = " ".join(redirect_uris)
        app.post_logout_redirect_uris = " ".join(post_logout)
        app.authorization_grant_type = grants.main_grant(allowed)
        if "skip_consent" in changes:
            app.skip_authorization = changes["skip_consent"]
        app.save(update_fields=["name", "redirect_uris", "post_logout_redirect_uris",
                                "authorization_grant_type", "skip_authorization", "updated"])
        client_settings, _ = ClientSettings.objects.get_or_create(application=app)
        for field in SETTINGS_FIELDS:
            if field in changes:
                setattr(client_settings, field, changes[field])
        client_settings.allowed_grants = allowed
        client_settings.save()
        record("oidc.client_changed", app, request, door, fields=sorted(changes), **extra)
    return app


def delete_client(app, *, actor: Actor, request: HttpRequest | None = None,
                  door: str = "api") -> None:
    """Delete an application; its tokens and grants go with it."""
    require_on_application(actor, "delete", "delete applications", "oidc.client_deleted",
             request=request, door=door, client_id=app.client_id)
    with transaction.atomic():
        record("oidc.client_deleted", app, request, door)
        app.delete()
