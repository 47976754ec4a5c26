"""SP-initiated sign-in in Chromium: Keystead's sign-in page, the IdP, back to the portal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keystead.directory.models import Event, User
from keystead.sources.saml import configuration
from keystead.sources.saml.models import SamlSource

from .http_idp import serving

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chromium_page(browser, live_server) -> Iterator:
    context = browser.new_context(base_url=live_server.url)
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
