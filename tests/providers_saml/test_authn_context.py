"""The authentication context an assertion states: PasswordProtectedTransport for a
password sign-in, the REFEDS MFA profile for a sign-in that passed a second factor; and
<RequestedAuthnContext> met or answered NoAuthnContext accordingly."""

from __future__ import annotations

import base64
import re

import pytest
from django.utils import timezone

from keystead.directory.models import Event
from keystead.login import backup_codes
from keystead.login.models import SignedInSession
from keystead.policy.models import LogonPolicy, Strategy
from keystead.providers.saml import authn_context
from keystead.providers.saml.authn_context import PASSWORD_PROTECTED as PPT
from keystead.providers.saml.authn_context import REFEDS_MFA as MFA

from .helpers import PASSWORD, path_of, posted_form

X509 = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"


# ------------------------------------------------------------------ the rule, pure


@pytest.mark.parametrize(("classes", "comparison", "second_factor", "stated"), [
    (None, "exact", False, PPT),
    (None, "exact", True, MFA),
    ([MFA], "exact", True, MFA),
    ([MFA], "exact", False, ""),
    ([PPT], "exact", True, PPT),  # exact: what was asked, though more was done
    ([X509, MFA, PPT], "exact", True, MFA),  # the SP's order of preference
    ([PPT, MFA], "exact", True, PPT),
    ([PPT], "minimum", True, MFA),
    ([PPT], "minimum", False, PPT),
    ([MFA], "minimum", True, MFA),
    ([MFA], "minimum", False, ""),
    ([PASSWORD_CLASS], "minimum", False, PPT),
    ([PPT], "maximum", True, PPT),
    ([MFA], "maximum", True, MFA),
    ([MFA], "maximum", False, PPT),
    ([PASSWORD_CLASS], "maximum", True, ""),
    ([PPT], "better", True, MFA),
    ([PPT], "better", False, ""),
    ([MFA], "better", True, ""),
    ([PASSWORD_CLASS], "better", False, PPT),
    ([X509], "exact", True, ""),
    ([], "minimum", True, ""),  # declaration references only
])
def test_decide(classes, comparison, second_factor, stated):
    decided = authn_context.decide(classes, comparison, second_factor=second_factor)
    assert decided.class_ref == stated
    assert bool(decided.reason) is not bool(stated)


# ------------------------------------------------------------------ through lasso


def _class_ref(answer: str) -> str:
    xml = base64.b64decode(answer).decode()
    return re.search(r"<(?:\w+:)?AuthnContextClassRef>([^<]+)<", xml).group(1)


@pytest.fixture
def codes(person):
    """A person who must pass a second factor at every sign-in: backup codes."""
    LogonPolicy.objects.update_or_create(
        pk=1, defaults={"login_strategy": Strategy.PASSWORD_AND_SECOND_FACTOR})
    return [c.reveal() for c in backup_codes.generate(person)]


def _sign_in_with_a_second_factor(client, sp, codes, *flags: str):
    """SP-initiated sign-in: password, then a backup code, then back to the SSO address;
    the page that posts to the SP."""
    to_sign_in = client.get(path_of(sp.request("redirect", "", "", *flags)["url"]))
    assert to_sign_in.status_code == 302
    factor = client.post(to_sign_in["Location"], {"username": "ada@example.com",
                                                  "password": PASSWORD})
    assert factor["Location"] == "/login/verify/"
    return client.post("/login/verify/backup", {"code": codes[0]}, follow=True)


@pytest.mark.django_db
def test_a_sign_in_with_a_second_factor_is_stated_as_refeds_mfa(make_sp, client, codes):
    sp = make_sp()
    page = _sign_in_with_a_second_factor(client, sp, codes)
    answer = posted_form(page.content.decode())[1]["SAMLResponse"]
    assert sp.read(answer)["name_id"]
    assert _class_ref(answer) == MFA
    assert Event.objects.filter(action="saml.sso", outcome="success").latest("pk") \
        .detail["authn_context"] == MFA
    # Later requests in the same session say the same.
    again = client.get(path_of(sp.request("redirect")["url"]))
    assert _class_ref(posted_form(again.content.decode())[1]["SAMLResponse"]) == MFA


@pytest.mark.django_db
def test_an_sp_asking_for_refeds_mfa_gets_it_after_a_second_factor(make_sp, client, codes):
    sp = make_sp()
    page = _sign_in_with_a_second_factor(client, sp, codes, "--authn-context", MFA)
    answer = posted_form(page.content.decode())[1]["SAMLResponse"]
    assert sp.read(answer)["name_id"]
    assert _class_ref(answer) == MFA


@pytest.mark.django_db
def test_an_sp_asking_for_refeds_mfa_gets_no_authn_context_after_a_password(make_sp,
                                                                           signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect", "", "", "--authn-context",
                                            MFA)["url"]))
    answer = posted_form(page.content.decode())[1]["SAMLResponse"]
    xml = base64.b64decode(answer).decode()
    assert "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext" in xml
    assert "ada@example.com" not in xml
    assert "error" in sp.read(answer, ok=False)
    assert MFA in Event.objects.filter(action="saml.sso").latest("pk").detail["reason"]


@pytest.mark.django_db
def test_a_password_sign_in_is_stated_as_password_protected_transport(make_sp, signed_in):
    sp = make_sp()
    page = signed_in.get(path_of(sp.request("redirect")["url"]))
    assert _class_ref(posted_form(page.content.decode())[1]["SAMLResponse"]) == PPT


@pytest.mark.django_db
def test_a_later_sign_in_in_the_same_session_does_not_inherit_the_second_factor(
        make_sp, client, codes, person):
    """The mark belongs to the sign-in that passed the factor: once the session signs in
    again (here: its sign-in time moves on), the mark no longer counts."""
    sp = make_sp()
    _sign_in_with_a_second_factor(client, sp, codes)
    SignedInSession.objects.filter(user=person).update(signed_in_at=timezone.now())
    page = client.get(path_of(sp.request("redirect")["url"]))
    assert _class_ref(posted_form(page.content.decode())[1]["SAMLResponse"]) == PPT


@pytest.mark.django_db
def test_the_launch_address_states_mfa_too(make_sp, client, codes):
    sp = make_sp()
    _sign_in_with_a_second_factor(client, sp, codes)
    page = client.get("/saml/launch/lasso")
    answer = posted_form(page.content.decode())[1]["SAMLResponse"]
    assert sp.read(answer)["name_id"]
    assert _class_ref(answer) == MFA
