"""What Keystead refuses in an application's request beyond pysaml2's own checks: SHA-1
signatures, a stale or future IssueInstant, a ProtocolBinding other than HTTP-POST.
The requests come from lasso (an independent SAML implementation, signing with xmlsec)."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import time_machine

from keystead.directory.models import Event
from keystead.providers.saml import request_checks

from .helpers import PASSWORD, lasso, path_of, posted_form

pytestmark = pytest.mark.django_db

RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
REQUESTER = 'Value="urn:oasis:names:tc:SAML:2.0:status:Requester"'
REQUEST_DENIED = 'Value="urn:oasis:names:tc:SAML:2.0:status:RequestDenied"'


def _last(action: str) -> Event:
    return Event.objects.filter(action=action).latest("pk")


def _status_of(page) -> tuple[str, str]:
    """The posted SAMLResponse (base64) and its XML."""
    answer = posted_form(page.content.decode())[1]["SAMLResponse"]
    return answer, base64.b64decode(answer).decode()


# ------------------------------------------------------------------ SHA-1 is refused


def test_an_authn_request_signed_with_rsa_sha1_over_redirect_is_refused(make_sp, signed_in):
    sp = make_sp(sign_requests=True)
    url = sp.request("redirect", "", "", "--sha1")["url"]
    assert dict(parse_qsl(urlsplit(url).query))["SigAlg"] == RSA_SHA1
    page = signed_in.get(path_of(url))
    assert page.status_code == 400
    assert b"could not be verified" in page.content
    assert b"SAMLResponse" not in page.content
    event = _last("saml.sso")
    assert event.outcome == "failure"
    assert "weak algorithm" in event.detail["reason"] and "rsa-sha1" in event.detail["reason"]


def test_an_authn_request_signed_with_sha1_over_post_is_refused(make_sp, signed_in):
    sp = make_sp(sign_requests=True)
    body = sp.request("post", "", "", "--sha1")["body"]
    assert RSA_SHA1 in base64.b64decode(body).decode()  # lasso really signed with SHA-1
    page = signed_in.post("/saml/sso/post", {"SAMLRequest": body})
    assert page.status_code == 400
    assert b"could not be verified" in page.content
    assert b"SAMLResponse" not in page.content
    assert "weak algorithm" in _last("saml.sso").detail["reason"]


def _session_at(sp, client) -> str:
    page = client.get(path_of(sp.request("redirect")["url"]))
    return sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["session"]


@pytest.mark.parametrize("post", [False, True])
def test_a_logout_request_signed_with_sha1_ends_nothing(make_sp, signed_in, post):
    sp = make_sp()
    session = _session_at(sp, signed_in)
    sent = lasso(sp.directory, "logout", session, "--sha1", *(["--post"] if post else []))
    if post:
        assert RSA_SHA1 in base64.b64decode(sent["body"]).decode()
        answer = signed_in.post("/saml/slo/post", {"SAMLRequest": sent["body"]})
    else:
        assert dict(parse_qsl(urlsplit(sent["url"]).query))["SigAlg"] == RSA_SHA1
        answer = signed_in.get(path_of(sent["url"]))
    assert answer.status_code == 400
    assert "_auth_user_id" in signed_in.session
    event = _last("saml.slo")
    assert event.outcome == "failure"
    assert "weak algorithm" in event.detail["reason"]
    # The control: the same SP's SHA-256 logout request is accepted.
    accepted = signed_in.get(path_of(lasso(sp.directory, "logout", session)["url"]))
    assert accepted.status_code == 302
    assert "_auth_user_id" not in signed_in.session


def test_the_weak_algorithm_rule_is_the_service_provider_s():
    assert request_checks.weak_signature("<x/>", RSA_SHA1)
    assert request_checks.weak_signature(
        "<x/>", "http://www.w3.org/2001/04/xmldsig-more#rsa-md5")
    assert not request_checks.weak_signature(
        "<x/>", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    digest_only = ('<x xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:DigestMethod '
                   'Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></x>')
    assert "xmldsig#sha1" in request_checks.weak_signature(digest_only, None)


# ------------------------------------------------------------------ IssueInstant window


@pytest.mark.parametrize(("issued", "words"), [(-600, "s old"), (300, "in the future")])
def test_a_stale_or_future_authn_request_gets_request_denied(make_sp, signed_in, issued, words):
    """Accepted: at most the 120 s clock skew ahead, at most 180 s + 120 s old."""
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect", "", "", "--issued",
                                            str(issued))["url"]))
    assert page.status_code == 200
    assert posted_form(page.content.decode())[0] == sp.acs
    answer, xml = _status_of(page)
    assert REQUESTER in xml and REQUEST_DENIED in xml
    assert "ada@example.com" not in xml
    assert "error" in sp.read(answer, ok=False)
    event = _last("saml.sso")
    assert event.outcome == "failure"
    assert "IssueInstant" in event.detail["reason"] and words in event.detail["reason"]


@pytest.mark.parametrize("issued", [-200, 100])
def test_a_request_within_the_window_is_answered(make_sp, signed_in, issued):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect", "", "", "--issued",
                                            str(issued))["url"]))
    assert sp.read(_status_of(page)[0])["name_id"]


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_a_request_that_waited_for_sign_in_is_answered_once(make_sp, client, person, binding):
    """The IssueInstant is checked when the request arrives; the person may take longer
    than that to sign in. Coming back from the sign-in page the request is answered; the
    same request brought again afterwards is old."""
    sp = make_sp()
    asked = sp.request(binding, "", "", "--issued", "-600")

    def bring():
        if binding == "redirect":
            return client.get(path_of(asked["url"]))
        return client.post("/saml/sso/post", {"SAMLRequest": asked["body"]})

    with time_machine.travel(time.time() - 600, tick=True):  # it arrived in time
        to_sign_in = bring()
    assert to_sign_in.status_code == 302
    signed = client.post(to_sign_in["Location"], {"username": person.email,
                                                  "password": PASSWORD}, follow=True)
    assert sp.read(_status_of(signed)[0])["in_response_to"] == asked["id"]
    _, xml = _status_of(bring())
    assert REQUEST_DENIED in xml


def test_a_request_that_waited_too_long_for_sign_in_is_denied(make_sp, client, person):
    sp = make_sp()
    url = path_of(sp.request("redirect", "", "", "--issued", "-1860")["url"])
    with time_machine.travel(time.time() - 1860, tick=True):
        to_sign_in = client.get(url)
    assert to_sign_in.status_code == 302
    signed = client.post(to_sign_in["Location"], {"username": person.email,
                                                  "password": PASSWORD}, follow=True)
    _, xml = _status_of(signed)
    assert REQUESTER in xml and REQUEST_DENIED in xml
    assert "30 minutes" in _last("saml.sso").detail["reason"]


def test_a_stale_logout_request_gets_request_denied_and_ends_nothing(make_sp, signed_in):
    from saml2.s_utils import decode_base64_and_inflate

    sp = make_sp()
    session = _session_at(sp, signed_in)
    answer = signed_in.get(path_of(lasso(sp.directory, "logout", session, "--issued",
                                         "-600")["url"]))
    assert answer.status_code == 302
    assert answer["Location"].startswith("https://lasso.sp.test/slo?")
    xml = decode_base64_and_inflate(
        dict(parse_qsl(urlsplit(answer["Location"]).query))["SAMLResponse"]).decode()
    assert REQUESTER in xml and REQUEST_DENIED in xml
    assert "_auth_user_id" in signed_in.session
    event = _last("saml.slo")
    assert event.outcome == "failure" and "IssueInstant" in event.detail["reason"]
    assert not Event.objects.filter(action="logout", detail__door="saml").exists()


def test_issue_instant_problem_bounds():
    now = 1_700_000_000.0
    assert request_checks.issue_instant_problem("2023-11-14T22:13:20Z", now) == ""
    assert request_checks.issue_instant_problem("2023-11-14T22:08:21Z", now) == ""  # 299 s
    assert "old" in request_checks.issue_instant_problem("2023-11-14T22:08:19Z", now)
    assert request_checks.issue_instant_problem("2023-11-14T22:15:20Z", now) == ""  # +120 s
    assert "future" in request_checks.issue_instant_problem("2023-11-14T22:15:21Z", now)
    assert "not a date" in request_checks.issue_instant_problem("yesterday", now)


# ------------------------------------------------------------------ ProtocolBinding


@pytest.mark.parametrize("binding", ["urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
                                     "urn:oasis:names:tc:SAML:2.0:bindings:PAOS"])
def test_an_unsupported_protocol_binding_gets_unsupported_binding(make_sp, signed_in, binding):
    """Core 3.2.2.2: Responder / UnsupportedBinding, sent by HTTP-POST to the SP's ACS,
    rather than an assertion by a binding the SP did not ask for."""
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect", "", "", "--protocol-binding",
                                            binding)["url"]))
    assert posted_form(page.content.decode())[0] == sp.acs
    answer, xml = _status_of(page)
    assert 'Value="urn:oasis:names:tc:SAML:2.0:status:Responder"' in xml
    assert 'Value="urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding"' in xml
    assert "ada@example.com" not in xml
    assert "error" in sp.read(answer, ok=False)
    event = _last("saml.sso")
    assert event.outcome == "failure" and binding in event.detail["reason"]


def test_asking_for_http_post_is_answered(make_sp, signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request(
        "redirect", "", "", "--protocol-binding",
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")["url"]))
    assert sp.read(_status_of(page)[0])["name_id"]
