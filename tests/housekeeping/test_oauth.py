"""OAuth rows through real flows: what django-oauth-toolkit's clean-up removes with
Keystead's settings (30-day refresh tokens, rotation, reuse protection), and the
family sign-ins and issued-code records that go once their tokens are gone.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken

from keystead import housekeeping
from keystead.directory.models import User
from keystead.providers.oidc.models import ClientSettings, FamilySignIn, IssuedCode
from oidc.helpers import authorize, code_tokens, make_app, pkce_pair, refresh

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {p.kind: p.count for p in housekeeping.run()}


@pytest.fixture
def browser() -> Client:
    person = User.objects.create_user("grace@example.com", "Grace", "Hopper",
                                      password="Quarry-Lantern-Mosaic-73")
    client = Client()
    client.force_login(person)
    return client


def test_tokens_families_and_codes_go_when_run_out_and_a_used_family_stays(browser):
    start = timezone.now()
    app, secret = make_app()
    kept = code_tokens(browser, app, secret)  # a family the application keeps refreshing
    kept = refresh(app, secret, kept["refresh_token"]).json()  # the first ID token orphaned
    abandoned_app, abandoned_secret = make_app(name="Abandoned")
    code_tokens(browser, abandoned_app, abandoned_secret)  # a family never used again
    authorize(browser, app, challenge=pkce_pair()[1])  # a code never exchanged
    assert FamilySignIn.objects.count() == 2 and IssuedCode.objects.count() == 3

    with time_machine.travel(start + timedelta(hours=1)):
        found = counts()
        # Expired: the code never exchanged, and the access token the refresh replaced
        # (expired then). The ID token of the first sign-in (expired, without an access
        # token now) stays while a session could last, for logout hints; the rotated
        # refresh token stays for reuse detection.
        assert (found["ID tokens"], found["OAuth grants"]) == (0, 1)
        assert (found["refresh tokens"], found["access tokens"]) == (0, 1)
        assert found["token family sign-ins"] == found["issued-code records"] == 0
        assert RefreshToken.objects.filter(revoked__isnull=False).count() == 1
        assert not Grant.objects.exists()

    with time_machine.travel(start + timedelta(days=29)):
        kept = refresh(app, secret, kept["refresh_token"]).json()
        assert "access_token" in kept

    with time_machine.travel(start + timedelta(days=31)):
        tokens_before = RefreshToken.objects.count()
        dry = {p.kind: p.count for p in housekeeping.run(dry_run=True)}
        assert RefreshToken.objects.count() == tokens_before  # nothing removed
        found = counts()
        assert dry == found  # exact, the toolkit's cascade of removals included
        # The token rotated on day 0 (revoked 31 days ago) and the abandoned family's
        # token (idle 31 days) go, then the abandoned access token and the one the day-29
        # refresh replaced, then three ID tokens: the first sign-in's and the one the
        # day-29 refresh orphaned (both expired more than a session's length ago), and
        # the abandoned family's.
        assert found["refresh tokens"] == 2
        assert found["access tokens"] == 2
        assert found["ID tokens"] == 3
        assert found["token family sign-ins"] == 1  # the abandoned family's
        assert found["issued-code records"] == 3  # older than the 30-day lifetime
        assert RefreshToken.objects.filter(application=abandoned_app).count() == 0
        assert RefreshToken.objects.filter(application=app).count() == 2  # live + rotated
        assert AccessToken.objects.filter(application=app).count() == 1
        assert IDToken.objects.filter(application=app).count() == 1
        assert FamilySignIn.objects.count() == 1
        # The kept family still refreshes, with its original sign-in time.
        again = refresh(app, secret, kept["refresh_token"])
        assert again.status_code == 200, again.content


def test_without_a_refresh_lifetime_a_code_record_stays_while_its_tokens_do(browser, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REFRESH_TOKEN_EXPIRE_SECONDS": 0}
    app, secret = make_app()
    kept = code_tokens(browser, app, secret)
    gone_app, gone_secret = make_app(name="Gone")
    code_tokens(browser, gone_app, gone_secret)
    RefreshToken.objects.filter(application=gone_app).delete()  # e.g. revoked and removed
    with time_machine.travel(timezone.now() + timedelta(days=400)):
        found = counts()
        assert found["issued-code records"] == 1
        assert list(IssuedCode.objects.values_list("application", flat=True)) == [app.pk]
        assert refresh(app, secret, kept["refresh_token"]).status_code == 200


def test_a_sign_in_id_token_stays_a_logout_hint_while_a_session_can_last(browser, settings):
    """An application without refresh tokens signs out with the ID token of its sign-in,
    whose access token is gone after ten minutes: the hint still works hours later."""
    start = timezone.now()
    app, secret = make_app()
    app.post_logout_redirect_uris = "https://rp.example.com/signed-out"
    app.save()
    ClientSettings.objects.create(application=app, allowed_grants=["authorization-code"],
                                  issue_refresh_tokens=False)
    tokens = code_tokens(browser, app, secret, scope="openid email")
    assert "refresh_token" not in tokens
    id_token = tokens["id_token"]
    hint = {"id_token_hint": id_token,
            "post_logout_redirect_uri": "https://rp.example.com/signed-out"}

    with time_machine.travel(start + timedelta(hours=2)):
        found = counts()
        assert found["access tokens"] == 1  # expired, no refresh token: gone
        assert found["ID tokens"] == 0
        # The idle session has ended meanwhile: the hint is accepted and the browser goes
        # straight back to the application (an unknown hint would be an error page).
        answer = browser.get("/oauth/logout/", hint)
        assert answer.status_code == 302, answer.content
        assert answer["Location"] == "https://rp.example.com/signed-out"

    session = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    with time_machine.travel(start + session + timedelta(hours=1)):
        assert counts()["ID tokens"] == 1
        assert not IDToken.objects.exists()
