"""OpenID Connect applications in the console: register, the secret once, no 500, no stock words."""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.auth.hashers import check_password
from django.db import connection
from django.test import Client
from oauth2_provider.models import get_application_model

from keystead.directory.models import Event

Application = get_application_model()

ADD = "/admin/oauth2_provider/application/add/"
LIST = "/admin/oauth2_provider/application/"
SECRET_ON_PAGE = re.compile(rb'<code id="client-secret"[^>]*>([^<]+)</code>')
# Words of the toolkit's raw form and of Django's stock pages that must not show.
STOCK = (b"No OIDC support", b"View on site", b"Select application to change",
         b"Add application", b"Change application", b"Hash client secret", b"Algorithm",
         b"URI Validation error", b"URI validation error", b"cannot be empty with grant_type",
         b"This field is required", b"Select a valid choice", b"Are you sure you want to delete")


def registration(**extra) -> dict:
    data = {"name": "Wiki", "client_type": "confidential",
            "allowed_grants": ["authorization-code"],
            "redirect_uris": "https://wiki.example.com/callback\r\nhttps://wiki.example.com/cb2",
            "post_logout_redirect_uris": "", "issue_refresh_tokens": "on",
            "rotate_refresh_tokens": "on", "access_token_seconds": "", "refresh_token_seconds": "",
            "id_token_algorithm": "", "subject_type": "", "sector_identifier": ""}
    data.update(extra)
    return data


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def no_stock_words(content: bytes) -> None:
    found = [word.decode() for word in STOCK if word in content]
    assert not found, f"stock wording on the page: {found}"


def tables_holding(value: str) -> list[str]:
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            if any(value in repr(row) for row in cursor.fetchall()):
                found.append(table)
    return found


def test_the_add_form_has_keysteads_defaults_and_words(console):
    index = console.get("/admin/")
    assert b"OpenID Connect applications" in index.content
    page = console.get(ADD)
    assert page.status_code == 200
    no_stock_words(page.content)
    assert b"Register an OpenID Connect application" in page.content
    content = page.content.decode()
    assert re.search(r'value="confidential"[^>]*checked', content)
    assert re.search(r'value="authorization-code"[^>]*checked', content)
    assert 'name="client_secret"' not in content and 'name="client_id"' not in content
    assert 'name="algorithm"' not in content


def test_the_secret_is_shown_once_and_stored_only_as_a_hash(console, caplog):
    caplog.set_level(logging.DEBUG)
    responses = []

    def keep(response):
        responses.append(response.content + str(response.headers).encode())
        return response

    created = keep(console.post(ADD, registration()))
    assert created.status_code == 200, created.content[:3000]
    assert "no-store" in created["Cache-Control"]
    assert b"this is the only time it is shown" in created.content
    assert b'data-copy-from="client-secret"' in created.content
    secret = SECRET_ON_PAGE.search(created.content).group(1).decode()
    assert len(secret) >= 32
    no_stock_words(created.content)

    app = Application.objects.get(name="Wiki")
    assert app.algorithm == "RS256"  # OpenID Connect on
    assert app.client_secret != secret and check_password(secret, app.client_secret)
    assert app.redirect_uris.split() == ["https://wiki.example.com/callback",
                                         "https://wiki.example.com/cb2"]
    assert app.keystead_settings.allowed_grants == ["authorization-code"]
    event = Event.objects.get(action="oidc.client_registered")
    assert event.detail["door"] == "admin"

    # Every page of the application, after the one response that showed the secret.
    base = f"{LIST}{app.pk}/"
    for url in (LIST, f"{base}change/", f"{base}history/", f"{base}delete/",
                f"{base}new-secret/", "/admin/", f"{LIST}?q=Wiki"):
        page = keep(console.get(url))
        assert page.status_code == 200, url
        no_stock_words(page.content)
    assert [i for i, body in enumerate(responses) if secret.encode() in body] == [0]
    assert tables_holding(secret) == []
    assert not any(secret in repr(e.__dict__) for e in Event.objects.all())
    assert secret not in caplog.text


def test_the_scanners_can_fail(console, caplog):
    """The searches above find a value that is there (so their silence means something)."""
    caplog.set_level(logging.DEBUG)
    console.post(ADD, registration(name="Canary-3f9c2"))
    logging.getLogger("keystead.test").info("Canary-3f9c2")
    assert "oauth2_provider_application" in tables_holding("Canary-3f9c2")
    assert "Canary-3f9c2" in caplog.text


def test_a_public_application_has_no_secret_page(console):
    response = console.post(ADD, registration(client_type="public"), follow=True)
    assert response.status_code == 200
    app = Application.objects.get(name="Wiki")
    assert response.redirect_chain[-1][0].endswith(f"/{app.pk}/change/")
    assert b"It is public: it has no secret" in response.content
    assert b"client-secret" not in response.content
    assert app.client_type == "public"
    no_stock_words(response.content)


def test_a_bad_redirect_uri_gets_one_friendly_message_naming_the_field(console):
    response = console.post(ADD, registration(redirect_uris="http://wiki.example.com/callback"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["redirect_uris"] == [
        "Redirect URIs: 'http://wiki.example.com/callback' must use https://; http:// is "
        "accepted only for localhost, 127.0.0.1 and [::1]."]
    no_stock_words(response.content)
    assert not Application.objects.exists()


@pytest.mark.parametrize("bad, field, words", [
    ({"name": ""}, "name", "Name: give the application a name"),
    ({"client_type": ""}, "client_type", "Client type: choose"),
    ({"client_type": "bogus"}, "client_type", "Client type: choose"),
    ({"allowed_grants": ["implicit"]}, "allowed_grants", "implicit is not offered"),
    ({"allowed_grants": []}, "allowed_grants", "must list at least one grant"),
    ({"client_type": "public", "allowed_grants": ["client-credentials"]}, "allowed_grants",
     "a public client has no secret"),
    ({"redirect_uris": ""}, "redirect_uris", "needs at least one redirect URI"),
    ({"redirect_uris": "https://a.example.com/cb#x"}, "redirect_uris", "fragment"),
    ({"redirect_uris": "https://*.example.com/cb"}, "redirect_uris", "no wildcards"),
    ({"redirect_uris": "https://a.example.com:99999/cb"}, "redirect_uris", "not a valid"),
    ({"redirect_uris": "https://a.example.com/" + "x" * 2100}, "redirect_uris",
     "at most 2000 characters"),
    ({"post_logout_redirect_uris": "javascript:alert(1)"}, "post_logout_redirect_uris",
     "Sign-out redirect URIs:"),
    ({"access_token_seconds": "-5"}, "access_token_seconds", "at least 1 second"),
    ({"access_token_seconds": "abc"}, "access_token_seconds", "whole number"),
    ({"refresh_token_seconds": "999999999999"}, "refresh_token_seconds", "ten years"),
    ({"subject_type": "secret"}, "subject_type", "is not one of the choices"),
    ({"id_token_algorithm": "HS256"}, "id_token_algorithm", "is not one of the choices"),
    ({"sector_identifier": "wiki.example.com"}, "sector_identifier", "only with pairwise"),
    ({"name": "x" * 300}, "name", "at most 255 characters"),
])
def test_bad_input_is_refused_in_keysteads_words_and_nothing_is_saved(console, bad, field,
                                                                       words):
    response = console.post(ADD, registration(**bad))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert words in " ".join(errors.get(field, [])), errors
    no_stock_words(response.content)
    assert not Application.objects.exists()
    assert not Event.objects.filter(action__startswith="oidc.").exists()


def test_the_console_accepts_what_the_api_accepts(console, api):
    """A single-label intranet host: the REST API takes it, so the console does too (the
    toolkit's own validation, which refuses it, is not run)."""
    response = console.post(ADD, registration(redirect_uris="https://wiki/callback"))
    assert response.status_code == 200
    assert SECRET_ON_PAGE.search(response.content)
    api_made = api.post("/api/v1/clients", {
        "name": "Other", "redirect_uris": ["https://other/callback"]})
    assert api_made.status_code == 201
    other = Application.objects.get(name="Other")
    changed = console.post(f"{LIST}{other.pk}/change/", {
        **registration(name="Other renamed", redirect_uris="https://other/callback")})
    assert changed.status_code == 302, changed.context["adminform"].form.errors
    assert Application.objects.get(pk=other.pk).name == "Other renamed"


def test_changing_goes_through_the_service_and_is_audited(console):
    console.post(ADD, registration())
    app = Application.objects.get(name="Wiki")
    page = console.get(f"{LIST}{app.pk}/change/")
    assert page.status_code == 200
    assert app.client_id.encode() in page.content
    assert b"Stored hashed" in page.content
    no_stock_words(page.content)
    response = console.post(f"{LIST}{app.pk}/change/", registration(
        allowed_grants=["authorization-code", "client-credentials"],
        redirect_uris="https://wiki.example.com/callback", access_token_seconds="300",
        subject_type="pairwise", client_type="public"))  # a fixed field: ignored
    assert response.status_code == 302, response.context["adminform"].form.errors
    app.refresh_from_db()
    assert app.client_type == "confidential"
    assert app.redirect_uris == "https://wiki.example.com/callback"
    assert app.keystead_settings.allowed_grants == ["authorization-code", "client-credentials"]
    assert app.keystead_settings.access_token_seconds == 300
    assert app.keystead_settings.subject_type == "pairwise"
    event = Event.objects.get(action="oidc.client_changed")
    assert event.detail["door"] == "admin"
    assert event.detail["fields"] == ["access_token_seconds", "grant_types", "redirect_uris",
                                      "subject_type"]
    assert event.detail["grant_types"] == {
        "before": ["authorization-code"], "after": ["authorization-code", "client-credentials"]}

    unchanged = console.post(f"{LIST}{app.pk}/change/", registration(
        allowed_grants=["authorization-code", "client-credentials"],
        redirect_uris="https://wiki.example.com/callback", access_token_seconds="300",
        subject_type="pairwise"))
    assert unchanged.status_code == 302
    assert Event.objects.filter(action="oidc.client_changed").count() == 1


def test_a_bad_change_is_refused_without_a_500(console):
    console.post(ADD, registration())
    app = Application.objects.get(name="Wiki")
    response = console.post(f"{LIST}{app.pk}/change/",
                            registration(redirect_uris="ftp://wiki.example.com/x"))
    assert response.status_code == 200
    assert "Redirect URIs:" in " ".join(response.context["adminform"].form.errors["redirect_uris"])
    no_stock_words(response.content)
    app.refresh_from_db()
    assert app.redirect_uris.startswith("https://wiki.example.com/callback")


def test_deleting_through_the_console_is_audited(console):
    console.post(ADD, registration())
    app = Application.objects.get(name="Wiki")
    page = console.get(f"{LIST}{app.pk}/delete/")
    assert b"It can no longer sign people in" in page.content
    response = console.post(f"{LIST}{app.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Application.objects.exists()
    assert Event.objects.get(action="oidc.client_deleted").detail["door"] == "admin"


def test_the_token_tables_are_not_in_the_menu(console):
    index = console.get("/admin/").content
    for words in (b"Access tokens", b"Refresh tokens", b"Grants", b"Id tokens", b"ID tokens"):
        assert words not in index
    for model in ("accesstoken", "refreshtoken", "grant", "idtoken"):
        assert console.get(f"/admin/oauth2_provider/{model}/").status_code == 404


def test_unknown_and_wrong_requests_get_no_500(console):
    assert console.get(f"{LIST}999999/new-secret/").status_code == 404
    assert console.post(f"{LIST}999999/revoke-tokens/").status_code == 404
    assert console.get(f"{LIST}999999/change/").status_code == 302  # Django: "doesn't exist"
    assert console.get(f"{LIST}not-a-number/change/").status_code == 302
    console.post(ADD, registration())
    app = Application.objects.get(name="Wiki")
    assert console.get(f"{LIST}{app.pk}/revoke-tokens/").status_code == 405
    response = console.post(f"{LIST}{app.pk}/revoke-tokens/", {"person": "abc"}, follow=True)
    assert response.status_code == 200
    assert b"That person no longer exists" in response.content


def test_a_view_only_administrator_cannot_change_or_see_a_secret(admin_user, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user(
        "viewer@example.com", "View", "Only", password="Quarry-Lantern-Mosaic-73")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_application"))
    owner = Client()
    owner.force_login(admin_user)
    owner.post(ADD, registration())
    app = Application.objects.get(name="Wiki")
    client = Client()
    client.force_login(viewer)
    page = client.get(f"{LIST}{app.pk}/change/")
    assert page.status_code == 200
    assert b"New client secret</a>" not in page.content
    assert b"ks-revoke" not in page.content
    assert client.get(f"{LIST}{app.pk}/new-secret/").status_code == 403
    assert client.post(f"{LIST}{app.pk}/new-secret/").status_code == 403
    assert client.post(f"{LIST}{app.pk}/revoke-tokens/").status_code == 403
    assert client.get(ADD).status_code == 403
