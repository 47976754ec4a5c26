"""The refresh grant's decision as a pure function (``refresh_rules.decide``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keystead.providers.oidc.client_auth import credentials_from
from keystead.providers.oidc.refresh_rules import (
    ClientFacts,
    Refusal,
    TokenFacts,
    decide,
    live_else_latest,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CLIENT = ClientFacts(application_id=7, may_refresh=True, refresh_lifetime=timedelta(days=1))
LIVE = TokenFacts(application_id=7, revoked=False, access_token_expires=NOW - timedelta(hours=1),
                  access_scope="openid email profile", user_active=True)


def with_(facts, **changes):
    return type(facts)(**{**facts.__dict__, **changes})


def test_a_live_token_keeps_its_original_scope():
    assert decide(LIVE, CLIENT, None, NOW) == (None, "openid email profile")
    assert decide(LIVE, CLIENT, "  ", NOW) == (None, "openid email profile")


def test_a_narrower_scope_is_granted_and_a_wider_one_refused():
    assert decide(LIVE, CLIENT, "openid email email", NOW) == (None, "openid email")
    refusal, _ = decide(LIVE, CLIENT, "openid groups", NOW)
    assert refusal is Refusal.SCOPE_WIDENED and refusal.error == "invalid_scope"


def test_the_family_grant_bounds_and_fills_the_scope_not_the_replaced_token():
    """After a refresh narrowed the access token to ``openid``, the family's grant (RFC 6749
    §6, "originally granted by the resource owner") still decides."""
    narrowed = with_(LIVE, access_scope="openid", granted_scope="openid email profile")
    assert decide(narrowed, CLIENT, None, NOW) == (None, "openid email profile")
    assert decide(narrowed, CLIENT, "openid profile", NOW) == (None, "openid profile")
    assert decide(narrowed, CLIENT, "openid groups", NOW)[0] is Refusal.SCOPE_WIDENED


def test_a_family_without_a_kept_grant_is_bounded_by_the_replaced_token():
    older = with_(LIVE, access_scope="openid", granted_scope="")
    assert decide(older, CLIENT, None, NOW) == (None, "openid")
    assert decide(older, CLIENT, "openid profile", NOW)[0] is Refusal.SCOPE_WIDENED


@pytest.mark.parametrize(("token", "client", "refusal"), [
    (None, CLIENT, Refusal.UNKNOWN),
    (with_(LIVE, application_id=8), CLIENT, Refusal.OTHER_CLIENT),
    (with_(LIVE, revoked=True), CLIENT, Refusal.REUSED),
    (with_(LIVE, access_token_expires=None), CLIENT, Refusal.ORPHANED),
    (with_(LIVE, access_token_expires=NOW - timedelta(days=1)), CLIENT, Refusal.EXPIRED),
    (with_(LIVE, user_active=False), CLIENT, Refusal.ACCOUNT_DISABLED),
    (LIVE, with_(CLIENT, may_refresh=False), Refusal.GRANT_NOT_ALLOWED),
])
def test_each_refusal(token, client, refusal):
    assert decide(token, client, None, NOW) == (refusal, "")


def test_error_codes_follow_rfc_6749():
    assert Refusal.GRANT_NOT_ALLOWED.error == "unauthorized_client"
    assert {r.error for r in Refusal} == {"invalid_grant", "unauthorized_client",
                                         "invalid_scope"}
    # A guessed or stolen token's holder learns nothing from the words either.
    assert Refusal.UNKNOWN.description == Refusal.OTHER_CLIENT.description == \
        Refusal.ORPHANED.description
    assert Refusal.REUSED.description.startswith("The refresh token was used before")


def test_reuse_is_reported_before_expiry_so_the_family_is_still_revoked():
    stale = with_(LIVE, revoked=True, access_token_expires=NOW - timedelta(days=30))
    assert decide(stale, CLIENT, None, NOW)[0] is Refusal.REUSED


def test_without_a_lifetime_a_refresh_token_does_not_expire():
    old = with_(LIVE, access_token_expires=NOW - timedelta(days=3650))
    assert decide(old, with_(CLIENT, refresh_lifetime=None), None, NOW)[0] is None


def test_the_deadline_itself_counts_as_expired():
    at_deadline = with_(LIVE, access_token_expires=NOW - timedelta(days=1))
    assert decide(at_deadline, CLIENT, None, NOW)[0] is Refusal.EXPIRED
    just_before = with_(LIVE, access_token_expires=NOW - timedelta(days=1) + timedelta(seconds=1))
    assert decide(just_before, CLIENT, None, NOW)[0] is None


# --- client credentials as RFC 6749 §2.3.1 sends them -------------------------------


def test_basic_credentials_are_form_decoded():
    import base64

    header = "Basic " + base64.b64encode(b"my%20app:s%3Acret+x").decode()
    found = credentials_from(header, {})
    assert (found.client_id, found.secret, found.used_basic) == ("my app", "s:cret x", True)


@pytest.mark.parametrize("header", ["Basic !!!", "Basic bm9jb2xvbg==", "Basic /w=="])
def test_malformed_basic_credentials_are_no_credentials(header):
    # not base64; "nocolon" without the separator; a byte that is not UTF-8
    assert credentials_from(header, {"client_id": "ignored"}) is None


def test_an_empty_basic_header_falls_back_to_the_form():
    assert credentials_from("Basic ", {"client_id": "abc"}).client_id == "abc"


def test_body_credentials_and_a_public_client():
    found = credentials_from("", {"client_id": "abc", "client_secret": "xyz"})
    assert (found.client_id, found.secret, found.used_basic) == ("abc", "xyz", False)
    public = credentials_from("", {"client_id": "abc"})
    assert public.secret is None
    assert credentials_from("", {}) is None



def test_of_rows_sharing_a_value_the_live_one_else_the_one_revoked_last():
    from types import SimpleNamespace as Row

    early, late = Row(revoked=NOW - timedelta(hours=2)), Row(revoked=NOW - timedelta(hours=1))
    live = Row(revoked=None)
    assert live_else_latest([early, live, late]) is live
    assert live_else_latest([late, early]) is late and live_else_latest([early, late]) is late
    assert live_else_latest([]) is None
