"""``live_tokens``: what counts as live (as the token endpoint decides), per application and
per person, and who may revoke."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_refresh_token_model,
)

from keystead.directory.authorization import Actor, NotAllowed
from keystead.directory.models import Event, Outcome, User
from keystead.providers.oidc import live_tokens
from keystead.providers.oidc.models import ClientSettings

from .helpers import make_app

AccessToken = get_access_token_model()
Grant = get_grant_model()
RefreshToken = get_refresh_token_model()
pytestmark = pytest.mark.django_db


def issue(app, user, *, expires_in: timedelta, refresh: bool = True, revoked: bool = False,
          scope: str = "openid email", name: str = "t"):
    access = AccessToken.objects.create(
        user=user, application=app, token=f"a-{name}", scope=scope,
        expires=timezone.now() + expires_in)
    if refresh:
        RefreshToken.objects.create(user=user, application=app, token=f"r-{name}",
                                    access_token=access,
                                    revoked=timezone.now() if revoked else None)
    return access


@pytest.fixture
def people(db):
    return (User.objects.create_user("ada@example.com", "Ada", "Lovelace"),
            User.objects.create_user("alan@example.com", "Alan", "Turing"))


def test_what_counts_as_live(people):
    ada, alan = people
    app, _ = make_app(name="Wiki")
    ClientSettings.objects.create(application=app, allowed_grants=["authorization-code"],
                                  refresh_token_seconds=3600)
    issue(app, ada, expires_in=timedelta(minutes=5), name="fresh")
    # Access token expired 30 minutes ago, refresh lifetime one hour: still refreshable.
    issue(app, alan, expires_in=timedelta(minutes=-30), name="refreshable")
    # Expired two hours ago: past the application's refresh lifetime.
    issue(app, alan, expires_in=timedelta(hours=-2), name="too-old")
    # Revoked refresh token with an expired access token: nothing left.
    issue(app, ada, expires_in=timedelta(minutes=-1), revoked=True, name="revoked")
    # An access token alone (client credentials), expired: not live.
    issue(app, None, expires_in=timedelta(minutes=-1), refresh=False, name="cc-old")
    issue(app, None, expires_in=timedelta(minutes=5), refresh=False, name="cc")

    live = live_tokens.of_application(app)
    assert live.count == 3
    seen = {(row.person.email if row.person else None, row.refreshable) for row in live.rows}
    assert seen == {("ada@example.com", True), ("alan@example.com", True), (None, False)}
    refreshable = next(r for r in live.rows if r.person == alan)
    assert refreshable.expires > timezone.now()
    assert refreshable.scopes == ("openid", "email")
    assert live_tokens.of_application(app, limit=1).rows.__len__() == 1
    assert live_tokens.of_application(app, limit=1).count == 3


def test_without_refresh_tokens_only_the_access_token_is_live(people):
    ada, _ = people
    app, _ = make_app(name="No refresh")
    ClientSettings.objects.create(application=app, allowed_grants=["authorization-code"],
                                  issue_refresh_tokens=False)
    issue(app, ada, expires_in=timedelta(minutes=-5), name="old")  # refresh unusable now
    issue(app, ada, expires_in=timedelta(minutes=5), name="new")
    live = live_tokens.of_application(app)
    assert live.count == 1
    assert live.rows[0].refreshable is False


def test_a_persons_tokens_in_every_application(people):
    ada, alan = people
    wiki, _ = make_app(name="Wiki")
    mail, _ = make_app(name="Mail")
    issue(wiki, ada, expires_in=timedelta(minutes=5), name="w")
    issue(mail, ada, expires_in=timedelta(minutes=5), name="m")
    issue(mail, alan, expires_in=timedelta(minutes=5), name="x")
    live = live_tokens.of_person(ada)
    assert live.count == 2
    assert {row.application.name for row in live.rows} == {"Wiki", "Mail"}


def test_revoking_needs_the_permission_and_is_audited(people, admin_user):
    ada, alan = people
    app, _ = make_app(name="Wiki")
    issue(app, ada, expires_in=timedelta(minutes=5), name="a")
    issue(app, alan, expires_in=timedelta(minutes=5), name="b")
    Grant.objects.create(user=ada, application=app, code="pending-code", redirect_uri="x",
                         expires=timezone.now() + timedelta(minutes=1))
    nobody = Actor.person(User.objects.create_user("help@example.com", "Help", "Desk"))
    with pytest.raises(NotAllowed, match=r"oauth2_provider\.change_application"):
        live_tokens.revoke(actor=nobody, application=app)
    assert live_tokens.of_application(app).count == 2

    done = live_tokens.revoke(actor=Actor.person(admin_user), application=app, person=ada)
    assert (done.refresh_tokens, done.access_tokens, done.codes) == (1, 1, 1)
    assert [row.person for row in live_tokens.of_application(app).rows] == [alan]
    event = Event.objects.get(action="oidc.tokens_revoked", outcome=Outcome.SUCCESS)
    assert event.detail["person"] == "ada@example.com"
    assert event.actor_label == admin_user.email
    refused = Event.objects.get(action="oidc.tokens_revoked", outcome=Outcome.DENIED)
    assert refused.actor_label == "help@example.com"
    assert refused.detail["client_id"] == app.client_id


def test_a_person_alone_needs_the_sign_out_permission(people):
    ada, _ = people
    nobody = Actor.person(User.objects.create_user("help@example.com", "Help", "Desk"))
    with pytest.raises(NotAllowed):
        live_tokens.revoke(actor=nobody, person=ada)
    with pytest.raises(ValueError):
        live_tokens.revoke(actor=nobody)
