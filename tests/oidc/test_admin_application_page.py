"""An application's console page: the addresses discovery publishes, a new secret shown once,
its live tokens and revoking them — each checked against the real endpoints."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from keystead.directory.authorization import Actor, NotAllowed
from keystead.directory.models import Event, Outcome
from keystead.providers.oidc import live_tokens
from keystead.providers.oidc.client_secrets import new_client_secret
from keystead.providers.oidc.models import ClientSettings

from .helpers import Application, client_credentials, code_tokens, make_app, refresh

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
LIST = "/admin/oauth2_provider/application/"
SECRET_ON_PAGE = re.compile(rb'<code id="client-secret"[^>]*>([^<]+)</code>')


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_page_shows_what_discovery_publishes(console):
    app, _ = make_app()
    page = console.get(f"{LIST}{app.pk}/change/")
    assert page.status_code == 200
    document = Client().get("/.well-known/openid-configuration").json()
    content = page.content.decode()
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                "jwks_uri", "end_session_endpoint"):
        assert f">{document[key]}</code>" in content, key
    discovery = document["issuer"] + "/.well-known/openid-configuration"
    assert f'<code id="address-discovery">{discovery}</code>' in content
    assert Client().get(discovery).status_code == 200
    assert content.count('class="ks-copy button"') == 7
    assert "keystead/copy.js" in content


def test_a_note_when_the_console_is_opened_at_another_address(console, settings):
    settings.BASE_URL = "https://id.example.com"
    app, _ = make_app()
    page = console.get(f"{LIST}{app.pk}/change/")
    assert b"Applications that reach Keystead at https://id.example.com" in page.content
    settings.BASE_URL = "http://testserver"
    page = console.get(f"{LIST}{app.pk}/change/")
    assert b"Applications that reach Keystead at" not in page.content


def test_a_new_secret_is_shown_once_and_the_old_one_stops_working(console):
    app, old = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS, name="Reports")
    assert client_credentials(app, old).status_code == 200
    question = console.get(f"{LIST}{app.pk}/new-secret/")
    assert question.status_code == 200
    assert b"The current secret stops working at once" in question.content
    app.refresh_from_db()
    assert check_password(old, app.client_secret)  # asking changes nothing

    shown = console.post(f"{LIST}{app.pk}/new-secret/")
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    assert b"this is the only time it is shown" in shown.content
    new = SECRET_ON_PAGE.search(shown.content).group(1).decode()
    assert client_credentials(app, old).status_code == 401
    assert client_credentials(app, new).status_code == 200
    app.refresh_from_db()
    assert app.client_secret != new and check_password(new, app.client_secret)
    event = Event.objects.get(action="oidc.client_secret_changed")
    assert event.detail["door"] == "admin" and new not in repr(event.__dict__)
    page = console.get(f"{LIST}{app.pk}/change/")
    assert new.encode() not in page.content
    history = console.get(f"{LIST}{app.pk}/history/")
    assert history.status_code == 200 and new.encode() not in history.content


def test_a_public_client_has_no_secret_to_replace(console):
    app, _ = make_app(public=True)
    page = console.get(f"{LIST}{app.pk}/change/")
    assert b"New client secret</a>" not in page.content
    response = console.post(f"{LIST}{app.pk}/new-secret/", follow=True)
    assert response.status_code == 200
    assert b"is a public client: it has no secret to replace" in response.content
    assert not Event.objects.filter(action="oidc.client_secret_changed").exists()


def test_live_tokens_are_listed_and_one_persons_are_revoked(console, person, browser_client):
    app, secret = make_app(name="Wiki")
    tokens = code_tokens(browser_client, app, secret)
    page = console.get(f"{LIST}{app.pk}/change/")
    content = page.content.decode()
    assert "1 live token." in content
    assert person.email in content and "openid email profile groups" in content
    assert "(refreshable)" in content
    assert tokens["access_token"] not in content and tokens["refresh_token"] not in content

    response = console.post(f"{LIST}{app.pk}/revoke-tokens/", {"person": person.pk},
                            follow=True)
    assert response.status_code == 200
    said = [str(message) for message in response.context["messages"]]
    assert said[0].startswith(f"Revoked {person.email}'s tokens in “Wiki”: they stop working")
    assert b"No live tokens" in response.content
    assert not AccessToken.objects.filter(application=app).exists()
    assert refresh(app, secret, tokens["refresh_token"]).status_code == 400
    event = Event.objects.get(action="oidc.tokens_revoked")
    assert event.detail == {"reason": "revoked by an administrator", "door": "admin",
                            "refresh_tokens": 1, "access_tokens": 1, "authorization_codes": 0,
                            "client_id": app.client_id, "person": person.email}


def test_revoking_all_includes_the_applications_own_tokens(console, person, browser_client):
    app, secret = make_app(name="Portal")
    ClientSettings.objects.create(application=app,
                                  allowed_grants=["authorization-code", "client-credentials"])
    code_tokens(browser_client, app, secret)
    assert client_credentials(app, secret).status_code == 200
    page = console.get(f"{LIST}{app.pk}/change/").content.decode()
    assert "2 live tokens." in page and "the application itself" in page
    response = console.post(f"{LIST}{app.pk}/revoke-tokens/", follow=True)
    assert b"Revoked every token" in response.content
    assert not AccessToken.objects.filter(application=app).exists()
    assert not RefreshToken.objects.filter(application=app, revoked__isnull=True).exists()
    again = console.post(f"{LIST}{app.pk}/revoke-tokens/", follow=True)
    assert b"Nothing to revoke" in again.content


def test_the_delete_page_says_how_many_tokens_end(console, person, browser_client):
    app, secret = make_app(name="Wiki")
    code_tokens(browser_client, app, secret)
    page = console.get(f"{LIST}{app.pk}/delete/")
    assert page.status_code == 200
    assert b"Its 1 live token stops working at once." in page.content


def test_who_may_only_view_applications_changes_neither_secret_nor_tokens(person_with):
    """A new secret and revoking an application's tokens need the console's permission to
    change applications, asked by the services for every door; each refusal is audited."""
    viewer = person_with("viewer@example.com", "oauth2_provider.view_application")
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS, name="Reports")
    assert client_credentials(app, secret).status_code == 200
    acting = Actor.person(viewer)
    with pytest.raises(NotAllowed, match=r"oauth2_provider\.change_application"):
        new_client_secret(app, actor=acting, door="test")
    with pytest.raises(NotAllowed, match="revoke an application's tokens"):
        live_tokens.revoke(actor=acting, application=app, door="test")
    assert client_credentials(app, secret).status_code == 200
    assert AccessToken.objects.filter(application=app).count() == 2
    refused = Event.objects.filter(outcome=Outcome.DENIED).order_by("id")
    assert [(e.action, e.detail["client_id"], e.actor_id) for e in refused] == [
        ("oidc.client_secret_changed", app.client_id, viewer.pk),
        ("oidc.tokens_revoked", app.client_id, viewer.pk)]


def test_an_application_administrator_ends_an_administrators_tokens_only_as_a_superuser(
        person, browser_client, person_with, admin_user):
    """Ending one person's tokens in an application signs them out of it: for an account
    with console access that is a superuser's call, as signing them out everywhere is."""
    app, secret = make_app(name="Wiki")
    tokens = code_tokens(browser_client, app, secret)
    apps_admin = Actor.person(person_with("apps@example.com",
                                          "oauth2_provider.change_application"))
    person.is_staff = True
    person.save(update_fields=["is_staff"])
    with pytest.raises(NotAllowed, match=r"grace@example\.com has console access"):
        live_tokens.revoke(actor=apps_admin, application=app, person=person, door="test")
    console = Client()
    apps_admin.user.is_staff = True
    apps_admin.user.save(update_fields=["is_staff"])
    console.force_login(apps_admin.user)
    page = console.post(f"{LIST}{app.pk}/revoke-tokens/", {"person": person.pk}, follow=True)
    said = [str(message) for message in page.context["messages"]]
    assert said == ["Nothing was revoked: grace@example.com has console access: only a "
                    "superuser may act on such an account."]
    assert refresh(app, secret, tokens["refresh_token"]).status_code == 200
    person.is_staff = False
    person.save(update_fields=["is_staff"])
    done = live_tokens.revoke(actor=apps_admin, application=app, person=person, door="test")
    assert done.refresh_tokens == 1
