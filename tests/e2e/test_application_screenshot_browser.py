"""An OpenID Connect application's console page in Chromium, from the live server.

The laptop view is the screenshot in ``docs/images/keystead-application.png`` (the
same size and style as ``keystead-dashboard.png``): a registered application with the
addresses to put in its configuration. The clock is set to a fixed moment so the
picture stays the same from run to run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from .page_checks import ForeignRequests, accessibility_problems, axe_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = (Path(__file__).resolve().parents[2] / "docs" / "images"
              / "keystead-application.png")
MOMENT = datetime(2026, 3, 10, 16, 40, tzinfo=UTC)


@pytest.fixture
def wiki(addressed_installation):
    """A registered application, with the installation's address set to the live server."""
    from oauth2_provider.models import get_application_model

    application = get_application_model()
    with time_machine.travel(MOMENT, tick=True):
        yield application.objects.create(
            name="Wiki", client_id="wiki-example", client_type=application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
            redirect_uris="https://wiki.example.com/oidc/callback",
            algorithm=application.RS256_ALGORITHM)


def test_an_applications_page_shows_the_addresses_to_configure(wiki, page, sign_in,
                                                               live_server):
    from playwright.sync_api import expect

    requested = ForeignRequests(page, live_server.url)
    address = f"/admin/oauth2_provider/application/{wiki.pk}/change/"
    sign_in(address)
    response = page.goto(address)
    assert response.status == 200
    expect(page.get_by_role("heading", name="Application: Wiki")).to_be_visible()
    addresses = page.locator("#provider-addresses")
    expect(addresses).to_contain_text("Addresses for the application's configuration")
    expect(addresses).to_contain_text(f"{live_server.url}/.well-known/openid-configuration")
    assert not requested.seen, requested.seen
    serious = accessibility_problems(page, axe_source())
    assert not serious, serious

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
