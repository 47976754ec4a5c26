"""Registering an OpenID Connect application in a real browser: a friendly refusal, the
secret shown once with a working copy button, the addresses ready to copy."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password
from oauth2_provider.models import get_application_model

from .conftest import SCREENSHOT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
Application = get_application_model()


def test_register_an_application_and_copy_its_secret(page, sign_in, live_server):
    from playwright.sync_api import expect

    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=live_server.url)
    blocked = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    sign_in("/admin/oauth2_provider/application/")
    expect(page.locator("h1")).to_contain_text("Applications")
    page.get_by_role("link", name="Register an application").click()
    expect(page.locator("h1")).to_have_text("Register an OpenID Connect application")
    expect(page.get_by_label("Confidential: runs on a server")).to_be_checked()
    expect(page.get_by_label("Authorization code (people sign in in the browser)")).to_be_checked()

    page.locator("#id_name").fill("Team wiki")
    page.locator("#id_redirect_uris").fill("http://wiki.example.com/callback")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".field-redirect_uris .errorlist")).to_contain_text(
        "Redirect URIs: 'http://wiki.example.com/callback' must use https://")
    assert not Application.objects.exists()

    page.locator("#id_redirect_uris").fill("https://wiki.example.com/callback")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".ks-once")).to_contain_text("this is the only time it is shown")
    secret = page.locator("#client-secret").inner_text().strip()
    app = Application.objects.get(name="Team wiki")
    assert check_password(secret, app.client_secret)

    copy = page.locator('button[data-copy-from="client-secret"]')
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-oidc-secret-once.png"), full_page=True)

    page.get_by_role("link", name="I have copied it: go to the application").click()
    expect(page.locator("h1")).to_have_text("Application: Team wiki")
    issuer = page.locator("#address-issuer").inner_text()
    assert issuer == live_server.url
    page.locator('button[data-copy-from="address-token-endpoint"]').click()
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_server.url}/oauth/token/"
    expect(page.locator("#live-tokens")).to_contain_text("No live tokens")
    assert secret not in page.content()
    assert not page.get_by_text("View on site").count()
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-oidc-application.png"), full_page=True)
    assert blocked == []
