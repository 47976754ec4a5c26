"""SP-initiated sign-in in Chromium: Keystead's sign-in page, the IdP, back to the portal."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from keystead.directory.models import Event, User
from keystead.sources.saml import configuration
from keystead.sources.saml.models import SamlSource

from .http_idp import serving

# Playwright's sync API runs an event loop in this thread; the ORM calls need this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = os.environ.get("KEYSTEAD_CHROMIUM", "/usr/bin/chromium")

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """Started before any test database connection (module scope), as ``tests/e2e`` does:
    Playwright's event loop in this thread must exist before the ORM's first connection."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (make test-deps).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--headless", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def chromium_page(chromium, live_server) -> Iterator:
    context = chromium.new_context(base_url=live_server.url)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def test_sp_initiated_sign_in_lands_in_the_portal(chromium_page, live_server, settings,
                                                  idp_keys):
    from playwright.sync_api import expect

    page = chromium_page
    settings.BASE_URL = live_server.url
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    with serving(idp_keys, sp_base=live_server.url, name_id="ada@example.com",
                 name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress") as idp:
        source = SamlSource(name="Example IdP", idp_entity_id=idp["entity_id"],
                            sso_url=idp["sso_url"], certificate=idp_keys.cert)
        assert not configuration.complete(source).errors
        configuration.ensure_key_pair(source)
        source.save()

        page.goto("/")
        page.get_by_role("link", name="Sign in with Example IdP").click()
        expect(page.get_by_role("heading", name="Test IdP")).to_be_visible()
        page.get_by_role("button", name="Continue to Keystead").click()
        expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
        expect(page).to_have_url(f"{live_server.url}/")
    assert Event.objects.filter(action="saml.sign_in", outcome="success",
                                target_id=str(ada.pk)).exists()
