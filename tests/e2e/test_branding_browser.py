"""Branding as Chromium sees it: the accent colour reaches the buttons through
``/branding/theme.css``, the logo and message show, the pages stay accessible, and an
SVG logo with a script cannot run it when opened on its own."""

from __future__ import annotations

import pytest

from keystead.branding.services import BrandChange, change_branding

from .page_checks import ForeignRequests, accessibility_problems, axe_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SVG_WITH_SCRIPT = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
    "<script>document.documentElement.setAttribute('data-ran', 'yes')</script>"
    '<circle r="18" cx="20" cy="20" fill="#7a1f5c"/></svg>')


@pytest.fixture
def branded(admin_user):
    change_branding(BrandChange(name="Acme ID", accent="#7a1f5c",
                                message="Use your Acme account.",
                                logo=SVG_WITH_SCRIPT.encode()), actor=admin_user)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_sign_in_page_wears_the_brand_and_stays_accessible(branded, browser, live_server,
                                                               width):
    from playwright.sync_api import expect

    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": width, "height": 900},
                                  color_scheme="light")
    context.set_default_timeout(10_000)
    try:
        tab = context.new_page()
        requested = ForeignRequests(tab, live_server.url)
        assert tab.goto("/login/").status == 200
        expect(tab.locator("header .brand")).to_have_text("Acme ID")
        expect(tab.locator(".brand-message")).to_have_text("Use your Acme account.")
        logo = tab.locator("header img.brand-logo")
        expect(logo).to_be_visible()
        assert logo.evaluate("image => image.naturalWidth") == 40
        button = tab.get_by_role("button", name="Sign in")
        assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(122, 31, 92)"
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        assert not requested.seen, requested.seen
        serious = accessibility_problems(tab, axe_source())
        assert not serious, serious
    finally:
        context.close()


def test_an_svg_logo_opened_on_its_own_runs_no_script(branded, page):
    # The same markup as an ordinary document does run its script: the check below can fail.
    page.set_content(f"<!doctype html><body>{SVG_WITH_SCRIPT}</body>")
    assert page.evaluate("document.documentElement.getAttribute('data-ran')") == "yes"

    response = page.goto("/branding/logo")
    assert response.status == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert page.locator("circle").count() == 1
    assert page.evaluate("document.documentElement.getAttribute('data-ran')") is None
