"""Registering an application in the admin console: a clear section, secrets stored hashed."""

from __future__ import annotations

import re

from django.test import Client
from oauth2_provider.models import get_application_model

Application = get_application_model()


def test_application_registration_in_the_console(admin_user):
    console = Client()
    console.force_login(admin_user)
    index = console.get("/admin/")
    assert b"OpenID Connect applications" in index.content

    form = console.get("/admin/oauth2_provider/application/add/")
    assert form.status_code == 200
    # The generated secret is shown in the add form, the one time it is visible.
    secret = re.search(rb'name="client_secret"[^>]*value="([^"]+)"', form.content)
    client_id = re.search(rb'name="client_id"[^>]*value="([^"]+)"', form.content)
    assert secret and client_id
    response = console.post("/admin/oauth2_provider/application/add/", {
        "client_id": client_id.group(1).decode(), "client_secret": secret.group(1).decode(),
        "hash_client_secret": "on", "name": "Wiki", "client_type": "confidential",
        "allowed_grants": ["authorization-code"], "algorithm": "RS256",
        "redirect_uris": "https://wiki.example.com/callback", "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "keystead_settings-TOTAL_FORMS": "1", "keystead_settings-INITIAL_FORMS": "0",
        "keystead_settings-MIN_NUM_FORMS": "0", "keystead_settings-MAX_NUM_FORMS": "1",
        "keystead_settings-0-access_token_seconds": "300"})
    assert response.status_code == 302, response.content[:2000]
    app = Application.objects.get(name="Wiki")
    assert app.client_secret != secret.group(1).decode()
    assert app.client_secret.startswith(("argon2", "pbkdf2"))
    assert app.keystead_settings.access_token_seconds == 300
    assert app.keystead_settings.issue_refresh_tokens is False  # unticked box in the form
    change = console.get(f"/admin/oauth2_provider/application/{app.pk}/change/")
    assert secret.group(1) not in change.content


def test_console_applies_the_same_redirect_uri_rules_as_the_api(admin_user):
    console = Client()
    console.force_login(admin_user)
    response = console.post("/admin/oauth2_provider/application/add/", {
        "client_id": "abc123", "client_secret": "s" * 40, "hash_client_secret": "on",
        "name": "Wiki", "client_type": "public",
        "allowed_grants": ["client-credentials"], "algorithm": "HS256",
        "redirect_uris": "http://wiki.example.com/callback",
        "post_logout_redirect_uris": "https://wiki.example.com/bye#x", "allowed_origins": "",
        "keystead_settings-TOTAL_FORMS": "1", "keystead_settings-INITIAL_FORMS": "0",
        "keystead_settings-MIN_NUM_FORMS": "0", "keystead_settings-MAX_NUM_FORMS": "1"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "https" in str(errors["redirect_uris"])
    assert "fragment" in str(errors["post_logout_redirect_uris"])
    assert "public client" in str(errors["allowed_grants"])
    assert "HS256" in str(errors["algorithm"])
    assert not Application.objects.exists()


def test_a_short_typed_client_secret_is_refused(admin_user):
    """Secrets get a fast hash, safe only for long random values; a short one is refused."""
    console = Client()
    console.force_login(admin_user)
    response = console.post("/admin/oauth2_provider/application/add/", {
        "client_id": "abc123", "client_secret": "hunter2", "hash_client_secret": "on",
        "name": "Wiki", "client_type": "confidential",
        "allowed_grants": ["authorization-code"], "algorithm": "RS256",
        "redirect_uris": "https://wiki.example.com/callback", "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "keystead_settings-TOTAL_FORMS": "1", "keystead_settings-INITIAL_FORMS": "0",
        "keystead_settings-MIN_NUM_FORMS": "0", "keystead_settings-MAX_NUM_FORMS": "1"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "at least 32 characters" in str(errors["client_secret"])
    assert not Application.objects.exists()
