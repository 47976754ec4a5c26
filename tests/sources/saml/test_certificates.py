"""The IdP certificate check: each pasting mistake gets the message that names it."""

from __future__ import annotations

import datetime

import pytest

from keystead.sources.saml.certificates import BEGIN, END, check_certificates

from .conftest import make_key_pair

NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture(scope="module")
def good() -> str:
    return make_key_pair("IdP signing").cert


def only_error(text: str) -> str:
    checked = check_certificates(text, NOW)
    assert len(checked.errors) == 1, checked.errors
    assert not checked.ok
    return checked.errors[0]


def test_a_good_certificate_passes(good):
    checked = check_certificates(good, NOW)
    assert checked.ok and not checked.warnings and len(checked.certificates) == 1


def test_two_certificates_during_a_rollover(good):
    second = make_key_pair("IdP next").cert
    checked = check_certificates(good + "\n" + second, NOW)
    assert checked.ok and len(checked.certificates) == 2


def test_empty():
    assert "empty" in only_error("  ")


def test_missing_begin_line(good):
    message = only_error(good.replace(BEGIN + "\n", ""))
    assert "must start with the line -----BEGIN CERTIFICATE-----" in message


def test_missing_end_line(good):
    message = only_error(good.replace(END, ""))
    assert "has no -----END CERTIFICATE----- line" in message


def test_wrong_number_of_dashes_in_begin(good):
    message = only_error(good.replace(BEGIN, "----BEGIN CERTIFICATE-----"))
    assert "BEGIN line has 4 dashes before and 5 after" in message
    assert "five dashes on each side" in message


def test_wrong_number_of_dashes_in_end(good):
    message = only_error(good.replace(END, "-----END CERTIFICATE------"))
    assert "END line has 5 dashes before and 6 after" in message


def test_not_base64(good):
    lines = good.splitlines()
    lines[2] = "this is not base64 at all!" + lines[2][26:]
    assert "is not base64" in only_error("\n".join(lines))


def test_base64_with_a_lost_line(good):
    lines = good.splitlines()
    del lines[3]
    message = only_error("\n".join(lines))
    assert "not base64" in message or "not an X.509 certificate" in message


def test_not_a_certificate():
    text = f"{BEGIN}\naGVsbG8gd29ybGQsIHRoaXMgaXMgbm90IGEgY2VydGlmaWNhdGU=\n{END}\n"
    assert "is not an X.509 certificate" in only_error(text)


def test_expired():
    old = make_key_pair("Old IdP", days=30, offset_days=-60).cert
    message = only_error(old)
    assert "expired on" in message and "CN=Old IdP" in message


def test_expiring_within_30_days_is_a_warning_not_a_refusal():
    soon = make_key_pair("Soon IdP", days=20, offset_days=-1).cert
    checked = check_certificates(soon, NOW)
    assert checked.ok
    assert len(checked.warnings) == 1 and "expires within 30 days" in checked.warnings[0]


def test_text_around_the_certificate_is_refused(good):
    message = only_error("Here is our certificate:\n" + good)
    assert "must start with the line" in message
