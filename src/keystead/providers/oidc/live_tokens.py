"""Live tokens of an application or of a person, and ending them.

django-oauth-toolkit keeps access tokens, refresh tokens and authorization codes
in its own tables. Those tables are not in the console: rows of hashes say
nothing to an administrator. What does matter is *who can still use what*, so
an application's page (and a person's page) shows its live tokens with the
person, the scopes and until when, and offers to end them. Both pages call the
functions here, so they agree on what "live" means:

- a refresh token is live while it is not revoked, its access token still
  exists (the refresh grant refuses an orphan), the application may still
  refresh, and its lifetime has not run out: counted from its access token's
  expiry, the application's own lifetime capped by the site's, exactly as
  ``refresh_grant.client_facts`` decides at the token endpoint;
- an access token is live until it expires. One bound to a live refresh token
  is shown with it, as one row: one sign-in, usable until the later of the two.

Revoking follows ``signals.revoke_user_tokens``: refresh tokens are marked
revoked and kept (a later use of one is recognised as reuse and revokes its
family), access tokens are deleted, and authorization codes not yet exchanged
are deleted so they cannot be turned into new tokens. Each revocation leaves an
audit Event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)

from keystead.directory import audit
from keystead.directory.authorization import Action, Actor, require
from keystead.providers.oidc.clients import require_on_application
from keystead.providers.oidc.models import settings_for
from keystead.providers.oidc.refresh_grant import client_facts

AccessToken = get_access_token_model()
Application = get_application_model()
Grant = get_grant_model()
RefreshToken = get_refresh_token_model()

#: The console permission that revoking an application's tokens needs.
#: Rows a page shows at most; the count says how many there are in all.
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class LiveToken:
    """One usable grant of access: a refresh token with its access token, or an access
    token alone (client credentials, or an application without refresh tokens)."""

    person: object | None  # the User; None when the application acts as itself
    application: object
    scopes: tuple[str, ...]
    issued: datetime
    expires: datetime | None  # None: a refresh token without a lifetime limit
    refreshable: bool


@dataclass(frozen=True)
class LiveTokens:
    count: int
    rows: list[LiveToken]  # the newest first, at most the limit asked for


@dataclass(frozen=True)
class Revoked:
    refresh_tokens: int
    access_tokens: int
    codes: int

    @property
    def total(self) -> int:
        return self.refresh_tokens + self.access_tokens + self.codes


def _live_refresh(scope: Q, now: datetime) -> tuple[Q, dict[int, object]]:
    """The filter for live refresh tokens within ``scope``, and each application's
    refresh lifetime (a timedelta or None), read once per application."""
    pending = Q(revoked__isnull=True, access_token__isnull=False)
    app_ids = set(RefreshToken.objects.filter(scope, pending)
                  .values_list("application_id", flat=True).distinct())
    alive = Q(pk__in=[])
    lifetimes: dict[int, object] = {}
    for app in Application.objects.filter(pk__in=app_ids).select_related("keystead_settings"):
        facts = client_facts(app, settings_for(app))
        if not facts.may_refresh:
            continue
        lifetimes[app.pk] = facts.refresh_lifetime
        one = Q(application_id=app.pk)
        if facts.refresh_lifetime is not None:
            one &= Q(access_token__expires__gt=now - facts.refresh_lifetime)
        alive |= one
    return scope & pending & alive, lifetimes


def _live(scope: Q, limit: int) -> LiveTokens:
    now = timezone.now()
    refresh_q, lifetimes = _live_refresh(scope, now)
    refresh = RefreshToken.objects.filter(refresh_q)
    access = (AccessToken.objects.filter(scope, expires__gt=now)
              .exclude(refresh_token__in=refresh.values("pk")))
    rows = []
    for token in refresh.select_related("access_token", "user", "application").order_by(
            "-created")[:limit]:
        lifetime = lifetimes.get(token.application_id)
        rows.append(LiveToken(
            person=token.user, application=token.application,
            scopes=tuple(token.access_token.scope.split()), issued=token.created,
            expires=token.access_token.expires + lifetime if lifetime else None,
            refreshable=True))
    for token in access.select_related("user", "application").order_by("-created")[:limit]:
        rows.append(LiveToken(person=token.user, application=token.application,
                              scopes=tuple(token.scope.split()), issued=token.created,
                              expires=token.expires, refreshable=False))
    rows.sort(key=lambda row: row.issued, reverse=True)
    return LiveTokens(count=refresh.count() + access.count(), rows=rows[:limit])


def of_application(application, *, limit: int = DEFAULT_LIMIT) -> LiveTokens:
    """The application's live tokens, for everyone (and for itself)."""
    return _live(Q(application=application), limit)


def of_person(person, *, limit: int = DEFAULT_LIMIT) -> LiveTokens:
    """A person's live tokens, in every application."""
    return _live(Q(user=person), limit)


def _authorize(actor: Actor, application, person, *, request: HttpRequest | None,
               door: str) -> None:
    if application is not None:
        require_on_application(actor, "change", "revoke an application's tokens",
                               "oidc.tokens_revoked", request=request, door=door,
                               client_id=application.client_id)
        if person is not None:  # an account with console access: a superuser's call
            require(actor, Action.REVOKE_IN_APPLICATION, person)
    else:
        require(actor, Action.SIGN_OUT, person)


def revoke(*, actor: Actor, application=None, person=None, request: HttpRequest | None = None,
           door: str = "admin") -> Revoked:
    """End every token of ``application``, of ``person``, or of the person in the application.

    ``actor`` must be allowed to change applications (when an application is given)
    or to sign the person out everywhere (a person alone); a person with console access
    only by a superuser, in either case.
    """
    if application is None and person is None:
        raise ValueError("revoke needs an application, a person or both")
    _authorize(actor, application, person, request=request, door=door)
    scope = Q()
    if application is not None:
        scope &= Q(application=application)
    if person is not None:
        scope &= Q(user=person)
    with transaction.atomic():
        refreshed = RefreshToken.objects.filter(scope, revoked__isnull=True).update(
            revoked=timezone.now())
        accessed = AccessToken.objects.filter(scope).delete()[1].get(AccessToken._meta.label, 0)
        codes = Grant.objects.filter(scope).delete()[1].get(Grant._meta.label, 0)
        done = Revoked(refresh_tokens=refreshed, access_tokens=accessed, codes=codes)
        detail = {"reason": "revoked by an administrator", "door": door,
                  "refresh_tokens": refreshed, "access_tokens": accessed,
                  "authorization_codes": codes}
        if application is not None:
            detail["client_id"] = application.client_id
        if person is not None:
            detail["person"] = person.email
        audit.record("oidc.tokens_revoked", request=request, actor=actor.user,
                     actor_label="" if actor.user else actor.label,
                     target=application if application is not None else person,
                     detail=detail)
    return done
