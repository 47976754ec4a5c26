"""Single logout passed on to the session's other applications (Profiles 4.4), judged by
lasso SPs: each one receives a LogoutRequest it verifies and matches with its own
session, and the application that started the logout hears how it went."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from saml2.s_utils import decode_base64_and_inflate

from keystead.directory.models import Event
from keystead.providers.saml import single_logout

from .helpers import lasso, path_of, posted_form

pytestmark = pytest.mark.django_db

SUCCESS = 'Value="urn:oasis:names:tc:SAML:2.0:status:Success"'
PARTIAL = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"


def _sign_in(client, sp) -> dict:
    """Sign in to ``sp``: what lasso read from the assertion (``session`` for logout)."""
    page = client.get(path_of(sp.request("redirect")["url"]))
    return sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])


def _message(location: str, field: str) -> str:
    return decode_base64_and_inflate(
        dict(parse_qsl(urlsplit(location).query))[field]).decode()


def _start_at(client, sp, session: str):
    return client.get(path_of(lasso(sp.directory, "logout", session)["url"]))


def test_logout_at_one_application_is_passed_on_to_the_other(make_sp, signed_in):
    first, second = make_sp("first"), make_sp("second")
    at_first = _sign_in(signed_in, first)
    at_second = _sign_in(signed_in, second)
    asked = _start_at(signed_in, first, at_first["session"])
    # Keystead's own session ends at once; the browser goes on to the second application.
    assert "_auth_user_id" not in signed_in.session
    assert asked.status_code == 302
    assert asked["Location"].startswith("https://second.sp.test/slo?")
    assert "Signature=" in asked["Location"]
    told = lasso(second.directory, "answer-logout", urlsplit(asked["Location"]).query,
                 "--session", at_second["session"])
    # lasso verified the IdP's signature and found its own NameID and SessionIndex.
    assert told["validated"], told
    assert told["name_id"] == at_second["name_id"]
    assert told["issuer"] == at_second["issuer"]
    assert told["session_indexes"]
    assert all(index in at_second["session"] for index in told["session_indexes"])
    assert "NotOnOrAfter=" in _message(asked["Location"], "SAMLRequest")
    back = signed_in.get(path_of(told["url"]))
    assert back.status_code == 302
    assert back["Location"].startswith("https://first.sp.test/slo?")
    status = _message(back["Location"], "SAMLResponse")
    assert SUCCESS in status and PARTIAL not in status
    assert lasso(first.directory, "logout-response",
                 urlsplit(back["Location"]).query)["status"] == "success"
    steps = list(Event.objects.filter(action="saml.slo").values_list("detail__step",
                                                                     "outcome"))
    assert ("asked", "success") in steps and ("answered", "success") in steps
    assert ("finished", "success") in steps
    # The chain is over: the same answer again has nothing to belong to.
    again = signed_in.get(path_of(told["url"]))
    assert again.status_code == 400
    assert single_logout.CHAIN not in signed_in.session
    assert "without a pending" in Event.objects.filter(
        action="saml.slo").latest("pk").detail["reason"]


def test_logout_is_passed_on_over_http_post_both_ways(make_sp, signed_in):
    """An application whose logout service takes HTTP-POST gets the LogoutRequest in an
    auto-posting form (signed inside the XML) and answers by HTTP-POST too."""
    first, second = make_sp("first"), make_sp("second", slo="post")
    at_first = _sign_in(signed_in, first)
    at_second = _sign_in(signed_in, second)
    page = _start_at(signed_in, first, at_first["session"])
    assert page.status_code == 200
    action, fields = posted_form(page.content.decode())
    assert action == "https://second.sp.test/slo"
    told = lasso(second.directory, "answer-logout", fields["SAMLRequest"],
                 "--session", at_second["session"])
    assert told["validated"], told
    assert told["url"].endswith("/saml/slo/post") and told["body"]
    xml = base64.b64decode(told["body"]).decode()
    assert "SignatureValue" in xml  # signed inside the XML, as HTTP-POST needs
    forged = base64.b64encode(xml.replace("status:Success", "status:Requester").encode())
    unsigned = base64.b64encode(re.sub(r"<Signature .*?</Signature>", "", xml,
                                       flags=re.DOTALL).encode())
    assert b"SignatureValue" not in base64.b64decode(unsigned)
    for wrong in (forged, unsigned):
        refused = signed_in.post("/saml/slo/post", {"SAMLResponse": wrong.decode()})
        assert refused.status_code == 400
        assert "signature" in Event.objects.filter(
            action="saml.slo").latest("pk").detail["reason"]
    back = signed_in.post("/saml/slo/post", {"SAMLResponse": told["body"]})
    assert back.status_code == 302
    assert back["Location"].startswith("https://first.sp.test/slo?")
    status = _message(back["Location"], "SAMLResponse")
    assert SUCCESS in status and PARTIAL not in status


def test_an_application_without_a_logout_service_makes_the_logout_partial(make_sp,
                                                                            signed_in):
    first, mute = make_sp("first"), make_sp("mute", slo="")
    at_first = _sign_in(signed_in, first)
    _sign_in(signed_in, mute)
    answer = _start_at(signed_in, first, at_first["session"])
    assert answer.status_code == 302
    assert answer["Location"].startswith("https://first.sp.test/slo?")
    status = _message(answer["Location"], "SAMLResponse")
    assert SUCCESS in status and PARTIAL in status
    assert lasso(first.directory, "logout-response",
                 urlsplit(answer["Location"]).query)["status"] == "success"
    assert "_auth_user_id" not in signed_in.session
    skipped = Event.objects.get(action="saml.slo", detail__step="skipped")
    assert skipped.detail["application"] == "mute"
    assert "SingleLogoutService" in skipped.detail["reason"]


def test_a_partial_answer_down_the_chain_makes_the_logout_partial(make_sp, signed_in):
    """The other application answers, but cannot say it signed the person out (lasso
    was given no session to match): the first application hears PartialLogout."""
    first, second = make_sp("first"), make_sp("second")
    at_first = _sign_in(signed_in, first)
    _sign_in(signed_in, second)
    asked = _start_at(signed_in, first, at_first["session"])
    told = lasso(second.directory, "answer-logout", urlsplit(asked["Location"]).query)
    assert not told["validated"]
    back = signed_in.get(path_of(told["url"]))
    assert back["Location"].startswith("https://first.sp.test/slo?")
    assert PARTIAL in _message(back["Location"], "SAMLResponse")


def test_a_logout_response_to_another_request_is_refused(make_sp, signed_in):
    first, second = make_sp("first"), make_sp("second")
    at_first = _sign_in(signed_in, first)
    at_second = _sign_in(signed_in, second)
    asked = _start_at(signed_in, first, at_first["session"])
    query = urlsplit(asked["Location"]).query
    wrong = lasso(second.directory, "answer-logout", query, "--session",
                  at_second["session"], "--in-response-to", "_not-the-request-sent")
    refused = signed_in.get(path_of(wrong["url"]))
    assert refused.status_code == 400
    assert "Location" not in refused
    event = Event.objects.filter(action="saml.slo").latest("pk")
    assert event.outcome == "failure" and "InResponseTo" in event.detail["reason"]
    # The chain still waits for the real answer, which completes it.
    right = lasso(second.directory, "answer-logout", query, "--session", at_second["session"])
    back = signed_in.get(path_of(right["url"]))
    assert back["Location"].startswith("https://first.sp.test/slo?")
    assert PARTIAL not in _message(back["Location"], "SAMLResponse")


def test_an_unsigned_logout_response_is_refused(make_sp, signed_in):
    first, second = make_sp("first"), make_sp("second")
    at_first = _sign_in(signed_in, first)
    at_second = _sign_in(signed_in, second)
    asked = _start_at(signed_in, first, at_first["session"])
    told = lasso(second.directory, "answer-logout", urlsplit(asked["Location"]).query,
                 "--session", at_second["session"])
    parts = urlsplit(told["url"])
    query = {k: v for k, v in parse_qsl(parts.query) if k not in ("Signature", "SigAlg")}
    refused = signed_in.get(f"{parts.path}?{urlencode(query)}")
    assert refused.status_code == 400
    assert "signature" in Event.objects.filter(action="saml.slo").latest("pk").detail["reason"]


def test_a_logout_response_signed_with_sha1_is_refused(make_sp, signed_in):
    """The rule for requests holds for answers: RSA-SHA1 is refused."""
    first, second = make_sp("first"), make_sp("second")
    at_first = _sign_in(signed_in, first)
    at_second = _sign_in(signed_in, second)
    asked = _start_at(signed_in, first, at_first["session"])
    told = lasso(second.directory, "answer-logout", urlsplit(asked["Location"]).query,
                 "--session", at_second["session"], "--sha1")
    assert "rsa-sha1" in told["url"].lower().replace("%23", "#")
    refused = signed_in.get(path_of(told["url"]))
    assert refused.status_code == 400
    assert "weak" in Event.objects.filter(action="saml.slo").latest("pk").detail["reason"]


def test_signing_out_of_keystead_signs_out_of_the_applications(make_sp, signed_in):
    """The portal's sign-out passes the logout on to every application of the session and
    ends on Keystead's sign-in page."""
    first, second = make_sp("first"), make_sp("second")
    sessions = {sp.entity_id: _sign_in(signed_in, sp)["session"] for sp in (first, second)}
    step = signed_in.post("/logout/")
    assert "_auth_user_id" not in signed_in.session
    for sp in (first, second):
        assert step.status_code == 302
        assert step["Location"].startswith(f"https://{sp.entity_id.split('/')[2]}/slo?")
        told = lasso(sp.directory, "answer-logout", urlsplit(step["Location"]).query,
                     "--session", sessions[sp.entity_id])
        assert told["validated"], told
        step = signed_in.get(path_of(told["url"]))
    assert step.status_code == 302
    assert step["Location"] == "/login/"
    assert Event.objects.get(action="saml.slo", detail__step="finished").outcome == "success"


def test_a_logout_response_when_nothing_is_pending_is_refused(make_sp, signed_in):
    """An answer arriving at a browser that never passed a logout on is refused, and
    signs nobody out."""
    first, second = make_sp("first"), make_sp("second")
    at_first = _sign_in(signed_in, first)
    at_second = _sign_in(signed_in, second)
    from django.test import Client

    other = Client()
    asked = _start_at(other, first, at_first["session"])  # nobody signed in there
    assert asked["Location"].startswith("https://first.sp.test/slo?")
    chain_browser = _start_at(signed_in, first, at_first["session"])
    told = lasso(second.directory, "answer-logout", urlsplit(chain_browser["Location"]).query,
                 "--session", at_second["session"])
    replayed = other.get(path_of(told["url"]))
    assert replayed.status_code == 400
    assert single_logout.CHAIN in signed_in.session  # the real chain is untouched


def test_a_chain_left_waiting_lapses(make_sp, signed_in, person):
    """An application that never answers leaves the browser with it; its answer after
    ``CHAIN_MINUTES``, or after the person signed in again, finds nothing pending."""
    first, second = make_sp("first"), make_sp("second")
    for lapse in ("time", "signed in again"):
        signed_in.force_login(person)
        at_first = _sign_in(signed_in, first)
        at_second = _sign_in(signed_in, second)
        asked = _start_at(signed_in, first, at_first["session"])
        told = lasso(second.directory, "answer-logout", urlsplit(asked["Location"]).query,
                     "--session", at_second["session"])
        if lapse == "time":
            session = signed_in.session
            session[single_logout.CHAIN]["waiting"]["asked_at"] -= (
                single_logout.CHAIN_MINUTES * 60 + 1)
            session.save()
        else:
            signed_in.force_login(person)
        assert single_logout.CHAIN in signed_in.session
        late = signed_in.get(path_of(told["url"]))
        assert late.status_code == 400, lapse
        assert single_logout.CHAIN not in signed_in.session
