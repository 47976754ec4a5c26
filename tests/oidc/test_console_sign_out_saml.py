"""The console's own sign-out (Django admin's *Log out*, ``directory/admin_site.py``) runs
the SAML single-logout chain as the portal's does. Kept here, beside the OIDC sign-out
tests, with the SAML tests' lasso SP fixtures."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from providers_saml.conftest import make_sp  # noqa: F401  (a fixture, used by name)
from providers_saml.helpers import lasso, path_of, posted_form

pytestmark = pytest.mark.django_db


def test_console_sign_out_passes_the_logout_on_to_saml_applications(make_sp,  # noqa: F811
                                                                    admin_user):
    sp = make_sp("first")
    console = Client()
    console.force_login(admin_user)
    page = console.get(path_of(sp.request("redirect")["url"]))
    session = sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]
    step = console.post("/admin/logout/")
    assert "_auth_user_id" not in console.session
    assert step.status_code == 302
    assert step["Location"].startswith("https://first.sp.test/slo?")
    told = lasso(sp.directory, "answer-logout", urlsplit(step["Location"]).query,
                 "--session", session)
    assert told["validated"], told
    assert console.get(path_of(told["url"]))["Location"] == "/login/"


def test_console_sign_out_without_saml_applications_shows_the_signed_out_page(admin_user):
    console = Client()
    console.force_login(admin_user)
    page = console.post("/admin/logout/")
    assert page.status_code == 200 and "_auth_user_id" not in console.session
