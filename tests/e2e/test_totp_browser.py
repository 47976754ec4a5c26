"""Authenticator app in a real browser: enrol in the portal, then sign in with codes from
Debian's ``oathtool``; a code already used is refused."""

from __future__ import annotations

import shutil
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from keystead.policy.models import LogonPolicy, Strategy

from .conftest import PERSON_PASSWORD, sign_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def oathtool(seed: str, at: float) -> str:
    if shutil.which("oathtool") is None:
        pytest.fail("oathtool not found: install Debian's oathtool (make test-deps).")
    return subprocess.run(["oathtool", "--totp", "-N", f"@{int(at)}", "-b", seed],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_enrol_then_sign_in_with_oathtool_codes(page, person):
    sign_in_as(page, person.email, PERSON_PASSWORD)
    page.get_by_role("link", name="Authenticator app").click()
    page.get_by_label("Name of this app").fill("Phone")
    page.get_by_role("button", name="Set up").click()
    page.get_by_role("img", name="QR code of the setup link").wait_for()
    page.get_by_text("Can't scan it?").click()
    uri = page.locator("#totp-uri").get_attribute("href")
    seed = parse_qs(urlsplit(uri).query)["secret"][0]
    assert page.locator("#totp-seed").inner_text().replace(" ", "") == seed

    page.get_by_label("Code").fill("000000" if oathtool(seed, time.time()) != "000000"
                                   else "111111")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("That code is not right").wait_for()
    page.get_by_label("Code").fill(oathtool(seed, time.time()))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("“Phone” is set up").wait_for()
    assert seed not in page.content()

    page.goto("/")
    page.get_by_role("button", name="Sign out").click()
    LogonPolicy.objects.update_or_create(
        pk=1, defaults={"login_strategy": Strategy.PASSWORD_AND_SECOND_FACTOR})

    # the next time step's code: inside the ±1 window and newer than the confirmation's
    code = oathtool(seed, time.time() + 30)
    sign_in_as(page, person.email, PERSON_PASSWORD)
    if "/login/verify/totp" not in page.url:
        page.get_by_role("link", name="Code from your authenticator app").click()
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Hello, Ada").wait_for()

    page.get_by_role("button", name="Sign out").click()
    sign_in_as(page, person.email, PERSON_PASSWORD)
    if "/login/verify/totp" not in page.url:
        page.get_by_role("link", name="Code from your authenticator app").click()
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.get_by_text("That code was already used").wait_for()
    assert "/login/verify/totp" in page.url
