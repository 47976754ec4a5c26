"""Signed AuthnRequests from SPs that sign, and single logout started by the SP."""

from __future__ import annotations

import base64
import re
import subprocess
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


def _logout_status(location: str) -> str:
    """The top and second-level status codes of a LogoutResponse sent by HTTP-Redirect."""
    from saml2.s_utils import decode_base64_and_inflate

    xml = decode_base64_and_inflate(dict(parse_qsl(urlsplit(location).query))["SAMLResponse"])
    return xml.decode()


def test_a_logout_request_about_another_person_ends_no_session(make_sp, client, person):
    """A signed LogoutRequest naming Ada, replayed into Grace's browser, must not sign Grace
    out (Core 3.7.3.2: the request identifies the principal); the SP hears UnknownPrincipal."""
    from django.test import Client

    from keystead.directory.models import User

    sp = make_sp()
    client.force_login(person)
    page = client.get(path_of(sp.request("redirect")["url"]))
    session = sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]
    logout_url = lasso(sp.directory, "logout", session)["url"]
    grace = User.objects.create_user("grace@example.com", "Grace", "Hopper", password="x" * 20)
    other = Client()
    other.force_login(grace)
    answer = other.get(path_of(logout_url))
    assert answer.status_code == 302
    assert answer["Location"].startswith("https://lasso.sp.test/slo?")
    status = _logout_status(answer["Location"])
    assert "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal" in status
    assert "_auth_user_id" in other.session
    assert Event.objects.filter(action="saml.slo", outcome="failure").exists()
    assert not Event.objects.filter(action="logout", detail__door="saml").exists()
    # Ada's own browser is signed out by the same request.
    mine = client.get(path_of(logout_url))
    assert "urn:oasis:names:tc:SAML:2.0:status:Success" in _logout_status(mine["Location"])
    assert "_auth_user_id" not in client.session


def test_the_logout_response_goes_to_the_response_location(make_sp, signed_in):
    """Metadata 2.2.2: an SLO endpoint's ResponseLocation, when given, is where responses go
    (and what their Destination says); requests still arrive at its Location."""
    sp = make_sp(slo_response="https://lasso.sp.test/slo-done")
    page = signed_in.get(path_of(sp.request("redirect")["url"]))
    session = sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]
    answer = signed_in.get(path_of(lasso(sp.directory, "logout", session)["url"]))
    assert answer.status_code == 302
    assert answer["Location"].startswith("https://lasso.sp.test/slo-done?")
    assert 'Destination="https://lasso.sp.test/slo-done"' in _logout_status(answer["Location"])
    assert lasso(sp.directory, "logout-response",
                 urlsplit(answer["Location"]).query)["status"] == "success"
    assert "_auth_user_id" not in signed_in.session


def test_logout_after_signing_in_to_one_application_is_a_plain_success(make_sp, signed_in):
    sp = make_sp()
    for _ in range(2):  # the same application twice is still one
        page = signed_in.get(path_of(sp.request("redirect")["url"]))
    session = sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]
    answer = signed_in.get(path_of(lasso(sp.directory, "logout", session)["url"]))
    assert "PartialLogout" not in _logout_status(answer["Location"])


def test_a_logout_request_past_its_not_on_or_after_is_refused(make_sp, signed_in):
    """Core 3.7.1: NotOnOrAfter is when the request expires; a late (or replayed) one ends
    nothing."""
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect")["url"]))
    session = sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]
    logout_url = lasso(sp.directory, "logout", session, "--expired")["url"]
    answer = signed_in.get(path_of(logout_url))
    assert answer.status_code == 400
    assert "_auth_user_id" in signed_in.session
    event = Event.objects.filter(action="saml.slo").latest("pk")
    assert event.outcome == "failure"
    assert "too old" in event.detail["reason"]


def _resigned(sp, xml: str, tmp_path) -> str:
    """``xml`` (an AuthnRequest) signed again with the SP's own key by xmlsec1, as the
    HTTP-POST form value."""
    (tmp_path / "in.xml").write_text(xml)
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem",
                    f"{sp.directory / 'sp-key.pem'},{sp.directory / 'sp-cert.pem'}",
                    "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest",
                    "--output", str(tmp_path / "out.xml"), str(tmp_path / "in.xml")],
                   check=True, capture_output=True)
    return base64.b64encode((tmp_path / "out.xml").read_bytes()).decode()


@pytest.mark.parametrize("with_destination", [True, False])
def test_a_signed_request_without_a_destination_is_refused(make_sp, signed_in, tmp_path,
                                                             with_destination):
    """Bindings 3.5.5.2: a signed message MUST carry its Destination (otherwise a request
    signed for another IdP could be brought here). With it, xmlsec1's signature is
    accepted: the control."""
    sp = make_sp(sign_requests=True)
    xml = base64.b64decode(sp.request("post")["body"]).decode()
    if not with_destination:
        xml, changed = re.subn(r' Destination="[^"]*"', "", xml, count=1)
        assert changed
    page = signed_in.post("/saml/sso/post", {"SAMLRequest": _resigned(sp, xml, tmp_path)})
    if with_destination:
        assert sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["name_id"]
        return
    assert page.status_code == 400
    assert b"SAMLResponse" not in page.content
    assert "Destination" in Event.objects.filter(action="saml.sso").latest("pk").detail["reason"]
