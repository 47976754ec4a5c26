"""Signed AuthnRequests from SPs that sign, and single logout started by the SP."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from keystead.directory.models import Event

from .helpers import lasso, path_of, posted_form

pytestmark = pytest.mark.django_db


def test_a_signed_redirect_request_is_verified(make_sp, signed_in):
    sp = make_sp(sign_requests=True)
    url = sp.request("redirect")["url"]
    assert "Signature=" in url
    page = signed_in.get(path_of(url))
    assert sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["name_id"]


def test_a_signed_post_request_is_verified(make_sp, signed_in):
    sp = make_sp(sign_requests=True)
    asked = sp.request("post")
    page = signed_in.post("/saml/sso/post", {"SAMLRequest": asked["body"]})
    assert sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["name_id"]


def _with(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return f"{parts.path}?{urlencode(query)}"


def test_a_bad_request_signature_is_refused(make_sp, signed_in):
    sp = make_sp(sign_requests=True)
    url = sp.request("redirect", relay_state="r")["url"]
    page = signed_in.get(_with(url, RelayState="changed"))
    assert page.status_code == 400
    assert b"could not be verified" in page.content


def test_an_unsigned_request_from_an_sp_that_signs_is_refused(make_sp, signed_in):
    sp = make_sp(sign_requests=True)
    page = signed_in.get(_with(sp.request("redirect")["url"], Signature=None, SigAlg=None))
    assert page.status_code == 400
    assert b"must be signed" in page.content


def test_single_logout_ends_the_session_and_answers_the_sp(make_sp, signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect")["url"]))
    session = sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]
    logout_url = lasso(sp.directory, "logout", session)["url"]
    assert logout_url.startswith("http://") and "/saml/slo/redirect?" in logout_url
    answer = signed_in.get(path_of(logout_url))
    assert answer.status_code == 302
    back = answer["Location"]
    assert back.startswith("https://lasso.sp.test/slo?")
    assert lasso(sp.directory, "logout-response", urlsplit(back).query)["status"] == "success"
    assert "_auth_user_id" not in signed_in.session
    assert Event.objects.filter(action="saml.slo", outcome="success").exists()
    assert Event.objects.filter(action="logout", detail__door="saml").exists()


def test_an_unsigned_logout_request_is_refused(make_sp, signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect")["url"]))
    session = sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]
    logout_url = lasso(sp.directory, "logout", session)["url"]
    answer = signed_in.get(_with(logout_url, Signature=None, SigAlg=None))
    assert answer.status_code == 400
    assert "_auth_user_id" in signed_in.session


def test_a_logout_request_with_a_signature_but_no_algorithm_is_refused(make_sp, signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect")["url"]))
    session = sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]
    logout_url = lasso(sp.directory, "logout", session)["url"]
    assert "Signature=" in logout_url
    answer = signed_in.get(_with(logout_url, SigAlg=None))
    assert answer.status_code == 400
    assert "_auth_user_id" in signed_in.session


def test_single_logout_over_post(make_sp, signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect")["url"]))
    session = sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]
    sent = lasso(sp.directory, "logout", session, "--post")
    assert sent["url"].endswith("/saml/slo/post")
    answer = signed_in.post("/saml/slo/post", {"SAMLRequest": sent["body"]})
    assert answer.status_code == 302
    assert lasso(sp.directory, "logout-response",
                 urlsplit(answer["Location"]).query)["status"] == "success"
    assert "_auth_user_id" not in signed_in.session
