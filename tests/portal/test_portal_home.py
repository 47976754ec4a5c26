"""The portal's home page (the application launcher), the profile page and the icon."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from keystead.directory.models import Group, User
from keystead.portal.applications import applications_of, launch_url

from .conftest import PASSWORD, PHONE

pytestmark = pytest.mark.django_db
Application = get_application_model()
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()


def app(name: str, redirect: str) -> object:
    return Application.objects.create(
        name=name, client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE, redirect_uris=redirect,
        skip_authorization=True, algorithm=Application.RS256_ALGORITHM)


def token(user, application, *, expires_in: int = 3600) -> object:
    return AccessToken.objects.create(
        user=user, application=application, token=secrets.token_urlsafe(24), scope="openid",
        expires=timezone.now() + timedelta(seconds=expires_in))


def test_launch_url_is_the_origin_of_the_first_web_redirect_uri():
    assert launch_url("https://wiki.example.com/oidc/callback?x=1") == "https://wiki.example.com"
    assert launch_url("com.example.app:/cb http://localhost:3000/cb") == "http://localhost:3000"
    assert launch_url("com.example.app:/callback") == ""
    assert launch_url("") == ""


def test_home_lists_the_applications_the_person_has_signed_in_to(ada, browser_of):
    wiki = app("Team wiki", "https://wiki.example.com/oidc/callback")
    chat = app("Chat", "https://chat.example.com/auth https://chat2.example.com/auth")
    native = app("Phone app", "com.example.phone:/callback")
    expired = app("Old tool", "https://old.example.com/cb")
    revoked = app("Gone", "https://gone.example.com/cb")
    bobs = app("Bob's app", "https://bob.example.com/cb")
    app("Never used", "https://never.example.com/cb")
    token(ada, wiki)
    access = token(ada, chat, expires_in=-60)  # expired access, live refresh: still granted
    RefreshToken.objects.create(user=ada, application=chat, token=secrets.token_urlsafe(24),
                                access_token=access)
    token(ada, native)
    token(ada, expired, expires_in=-60)
    gone = token(ada, revoked, expires_in=-60)
    RefreshToken.objects.create(user=ada, application=revoked, token=secrets.token_urlsafe(24),
                                access_token=gone, revoked=timezone.now())
    bob = User.objects.create_user("bob@example.com", "Bob", "Builder", password=PASSWORD)
    token(bob, bobs)

    assert [a.name for a in applications_of(ada)] == ["Chat", "Phone app", "Team wiki"]
    page = browser_of().get("/").content.decode()
    assert '<a href="https://wiki.example.com" rel="noopener">Team wiki</a>' in page
    assert '<a href="https://chat.example.com" rel="noopener">Chat</a>' in page
    assert "Phone app" in page and 'href="com.example' not in page
    for absent in ("Old tool", "Gone", "Bob&#x27;s app", "Never used"):
        assert absent not in page
    assert "Applications you sign in to with Keystead appear here" not in page


def test_home_says_where_applications_will_appear(ada, browser_of):
    page = browser_of().get("/").content.decode()
    assert "Applications you sign in to with Keystead appear here" in page
    for link in ("/account/profile", "/account/sessions", "/password/change/",
                 "/account/backup-codes"):
        assert f'href="{link}"' in page


def test_profile_shows_who_keystead_knows_the_person_as(ada, browser_of):
    group = Group.objects.create(name="Engineering")
    group.members.add(ada)
    page = browser_of(PHONE).get("/account/profile").content.decode()
    for text in ("Ada Lovelace", "ada@example.com", "Engineering", "ask them to change"):
        assert text in page


def test_every_portal_page_names_the_icon_and_the_favicon_address_answers(ada):
    page = Client().get("/login/").content.decode()
    assert 'rel="icon" href="/static/keystead/favicon.svg" type="image/svg+xml"' in page
    assert 'href="/static/keystead/portal-theme.css"' in page
    answer = Client().get("/favicon.ico")
    assert answer.status_code == 302 and answer["Location"] == "/static/keystead/favicon.svg"
    svg = Client().get("/static/keystead/favicon.svg")
    assert svg.status_code == 200 and svg["Content-Type"].startswith("image/svg+xml")
