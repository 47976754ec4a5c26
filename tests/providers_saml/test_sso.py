"""Single sign-on to a lasso SP: both bindings, IdP-initiated, what is released."""

from __future__ import annotations

import base64

import pytest

from keystead.directory.models import Event

from .helpers import PASSWORD, path_of, posted_form

pytestmark = pytest.mark.django_db


def test_sp_initiated_over_redirect_releases_the_configured_attributes(make_sp, signed_in):
    sp = make_sp()
    asked = sp.request("redirect", relay_state="/after")
    page = signed_in.get(path_of(asked["url"]))
    assert page.status_code == 200
    action, fields = posted_form(page.content.decode())
    assert action == sp.acs
    assert fields["RelayState"] == "/after"
    got = sp.read(fields["SAMLResponse"])
    assert got["in_response_to"] == asked["id"]
    assert got["format"] == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    assert got["attributes"] == {"email": ["ada@example.com"], "givenName": ["Ada"],
                                 "sn": ["Lovelace"], "uid": ["ada"],
                                 "groups": ["analysts", "engineers"]}


def test_sp_initiated_over_post(make_sp, signed_in):
    sp = make_sp()
    asked = sp.request("post", relay_state="state-1")
    page = signed_in.post("/saml/sso/post", {"SAMLRequest": asked["body"],
                                             "RelayState": "state-1"})
    action, fields = posted_form(page.content.decode())
    assert (action, fields["RelayState"]) == (sp.acs, "state-1")
    got = sp.read(fields["SAMLResponse"])
    assert got["in_response_to"] == asked["id"]
    assert got["audience"] == [sp.entity_id]
    assert got["attributes"]["email"] == ["ada@example.com"]


def test_redirect_binding_sends_people_to_the_sign_in_page_and_back(make_sp, client, person):
    sp = make_sp()
    asked = sp.request("redirect")
    to_sign_in = client.get(path_of(asked["url"]))
    assert to_sign_in.status_code == 302
    assert to_sign_in["Location"].startswith("/login/?next=")
    signed = client.post(to_sign_in["Location"], {"username": person.email,
                                                  "password": PASSWORD}, follow=True)
    action, fields = posted_form(signed.content.decode())
    assert action == sp.acs
    assert sp.read(fields["SAMLResponse"])["in_response_to"] == asked["id"]


def test_post_binding_waits_in_the_session_during_sign_in(make_sp, client, person):
    sp = make_sp()
    asked = sp.request("post")
    to_sign_in = client.post("/saml/sso/post", {"SAMLRequest": asked["body"]})
    assert to_sign_in.status_code == 302
    assert "SAMLRequest" not in to_sign_in["Location"]
    signed = client.post(to_sign_in["Location"], {"username": person.email,
                                                  "password": PASSWORD}, follow=True)
    _, fields = posted_form(signed.content.decode())
    assert sp.read(fields["SAMLResponse"])["in_response_to"] == asked["id"]


def test_a_wrong_password_gets_no_response(make_sp, client, person):
    sp = make_sp()
    to_sign_in = client.get(path_of(sp.request("redirect")["url"]))
    page = client.post(to_sign_in["Location"], {"username": person.email,
                                                "password": "not-the-password"}, follow=True)
    assert b"SAMLResponse" not in page.content


def test_idp_initiated_from_the_launch_address(make_sp, signed_in):
    sp = make_sp(relay_state="https://lasso.sp.test/home")
    page = signed_in.get("/saml/launch/lasso")
    action, fields = posted_form(page.content.decode())
    assert action == sp.acs
    assert fields["RelayState"] == "https://lasso.sp.test/home"
    got = sp.read(fields["SAMLResponse"])
    assert got["in_response_to"] is None
    assert got["attributes"]["uid"] == ["ada"]
    event = Event.objects.filter(action="saml.sso").latest("pk")
    assert event.detail["door"] == "idp-initiated"
    assert event.detail["nameid_format"].endswith(":persistent")
    assert "SAMLResponse" not in str(event.detail)


def test_launch_needs_a_signed_in_person(make_sp, client):
    make_sp()
    answer = client.get("/saml/launch/lasso")
    assert answer.status_code == 302
    assert answer["Location"].startswith("/login/")


def test_released_attributes_are_exactly_the_configured_ones(make_sp, signed_in):
    sp = make_sp(attributes={"email": "urn:oid:0.9.2342.19200300.100.1.3",
                             "family_name": "lastName"})
    _, fields = posted_form(signed_in.get(path_of(sp.request("redirect")["url"])).content
                            .decode())
    assert sp.read(fields["SAMLResponse"])["attributes"] == {
        "urn:oid:0.9.2342.19200300.100.1.3": ["ada@example.com"], "lastName": ["Lovelace"]}


def test_an_unregistered_acs_url_is_refused(make_sp, signed_in):
    sp = make_sp()
    asked = sp.request("redirect", acs_url="https://evil.test/acs")
    page = signed_in.get(path_of(asked["url"]))
    assert page.status_code == 400
    assert b"SAMLResponse" not in page.content
    assert b"does not list" in page.content
    event = Event.objects.filter(action="saml.sso").latest("pk")
    assert event.outcome == "failure"
    assert "evil.test" in event.detail["reason"]


def test_a_registered_acs_url_asked_for_is_used(make_sp, signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect", acs_url=sp.acs)["url"]))
    assert posted_form(page.content.decode())[0] == sp.acs


def test_an_unknown_sp_is_refused(make_sp, signed_in, tmp_path):
    sp = make_sp()
    sp.application.delete()
    page = signed_in.get(path_of(sp.request("redirect")["url"]))
    assert page.status_code == 400
    assert b"not registered" in page.content


def test_garbage_is_a_clear_400(signed_in):
    page = signed_in.get("/saml/sso/redirect?SAMLRequest=not-saml")
    assert page.status_code == 400
    assert b"not a SAML message" in page.content
    assert signed_in.get("/saml/sso/redirect").status_code == 400
    assert signed_in.post("/saml/sso/post", {}).status_code == 400


def test_an_sp_asking_for_attributes_gets_the_configured_ones_among_them(make_sp, signed_in):
    sp = make_sp(requested="email,mobile")
    _, fields = posted_form(signed_in.get(path_of(sp.request("redirect")["url"])).content
                            .decode())
    assert sp.read(fields["SAMLResponse"])["attributes"] == {"email": ["ada@example.com"]}


def test_is_passive_without_a_session_answers_no_passive(make_sp, client):
    sp = make_sp()
    page = client.get(path_of(sp.request("redirect", "", "", "--passive")["url"]))
    action, fields = posted_form(page.content.decode())
    assert action == sp.acs
    assert b"urn:oasis:names:tc:SAML:2.0:status:NoPassive" in base64.b64decode(
        fields["SAMLResponse"])
    assert "error" in sp.read(fields["SAMLResponse"], ok=False)


def test_is_passive_with_a_session_signs_in(make_sp, signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect", "", "", "--passive")["url"]))
    assert sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["name_id"]


def test_force_authn_asks_a_signed_in_person_to_sign_in_again(make_sp, client, person):
    sp = make_sp()
    client.post("/login/", {"username": person.email, "password": PASSWORD})
    asked = sp.request("redirect", "", "", "--force-authn")
    again = client.get(path_of(asked["url"]))
    assert again.status_code == 302
    assert again["Location"].startswith("/login/?prompt=login&next=")
    # Coming back without signing in again does not count.
    assert client.get(path_of(asked["url"])).status_code == 302
    signed = client.post(again["Location"], {"username": person.email,
                                             "password": PASSWORD}, follow=True)
    _, fields = posted_form(signed.content.decode())
    assert sp.read(fields["SAMLResponse"])["in_response_to"] == asked["id"]


def test_an_acs_asked_for_by_index(make_sp, signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect", "", "", "--acs-index", "0")["url"]))
    assert posted_form(page.content.decode())[0] == sp.acs
    refused = signed_in.get(path_of(sp.request("redirect", "", "", "--acs-index", "5")["url"]))
    assert refused.status_code == 400


def test_the_authn_instant_is_when_the_person_signed_in(make_sp, client, person):
    """Core 2.7.2: AuthnInstant is the time the authentication took place, which SPs check
    against their maximum age (and ForceAuthn); not the moment the response is made."""
    import datetime as dt
    import re

    from django.utils import timezone

    from keystead.login.models import SignedInSession

    sp = make_sp()
    client.post("/login/", {"username": person.email, "password": PASSWORD})
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    assert SignedInSession.objects.filter(user=person).update(signed_in_at=an_hour_ago) == 1
    page = client.get(path_of(sp.request("redirect")["url"]))
    answer = posted_form(page.content.decode())[1]["SAMLResponse"]
    instant = re.search(r'AuthnInstant="([^"]+)"', base64.b64decode(answer).decode()).group(1)
    said = dt.datetime.strptime(instant, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs(said - an_hour_ago) < dt.timedelta(seconds=2)
    assert sp.read(answer)["name_id"]


PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
X509 = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"


@pytest.mark.parametrize(("classes", "comparison", "met"), [
    (PPT, "", True),
    (f"{X509},{PPT}", "exact", True),
    (PASSWORD_CLASS, "minimum", True),
    (PASSWORD_CLASS, "better", True),
    (X509, "maximum", True),
    (PASSWORD_CLASS, "maximum", False),
    (X509, "", False),
    (X509, "minimum", False),
    (PPT, "better", False),
])
def test_a_requested_authn_context_keystead_cannot_meet_answers_no_authn_context(
        make_sp, signed_in, classes, comparison, met):
    """Core 3.3.2.2.1 / 3.4.1: Keystead's sign-in is PasswordProtectedTransport; a
    RequestedAuthnContext it does not satisfy gets a NoAuthnContext status, not an
    assertion claiming something else."""
    sp = make_sp()
    flags = ["--authn-context", classes] + (["--comparison", comparison] if comparison else [])
    page = signed_in.get(path_of(sp.request("redirect", "", "", *flags)["url"]))
    answer = posted_form(page.content.decode())[1]["SAMLResponse"]
    xml = base64.b64decode(answer).decode()
    if met:
        assert sp.read(answer)["name_id"]
        assert PPT in xml
    else:
        assert "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext" in xml
        assert "ada@example.com" not in xml
        assert "error" in sp.read(answer, ok=False)
