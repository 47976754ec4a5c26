import json
import logging
import pickle

import pytest

from keystead.logs import JsonFormatter, RedactSecretsFilter, redact_text
from keystead.secret import REDACTED, Secret, scrub


def test_secret_never_prints_its_value():
    secret = Secret("hunter2-canary")
    for rendered in (repr(secret), str(secret), f"{secret}", "%s" % secret, f"{secret!r}"):  # noqa: UP031
        assert "hunter2" not in rendered
    assert secret.reveal() == "hunter2-canary"


def test_secret_refuses_pickling_and_mutation():
    secret = Secret("x")
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(AttributeError):
        secret._value = "y"


def test_secret_equality_is_by_value():
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")


def test_scrub_keeps_facts_about_secrets():
    kept = {"key_id": "ab12", "password_set": True, "token_count": 2, "passwordChangedAt": 1}
    assert scrub(kept) == kept


def test_scrub_redacts_secrets_and_sensitive_keys_recursively():
    data = {"user": "ada", "password": "p", "nested": [{"api_token": "t"}, Secret("s")],
            "clientSecret": "c", "new-password": "n", "API_KEY": "k"}
    assert scrub(data) == {"user": "ada", "password": REDACTED,
                           "nested": [{"api_token": REDACTED}, REDACTED],
                           "clientSecret": REDACTED, "new-password": REDACTED, "API_KEY": REDACTED}


@pytest.mark.parametrize("text", [
    "login password=hunter2 ok",
    'body {"password": "hunter2"}',
    "Authorization: Bearer hunter2",
    "GET /cb?code=hunter2&state=x",
    "GET /oauth/userinfo/?access_token=hunter2 HTTP/1.1",
    "POST grant_type=refresh_token&refresh_token=hunter2&client_id=x",
    "client_id=x&client_secret=hunter2",
    '{"code_verifier": "hunter2"}',
    "GET /oauth/logout/?id_token_hint=hunter2&client_id=x",
    "LocalProtocolError: Illegal header value b'Bearer hunter2 '",
    "refused: basic aHVudGVyMg== and more",
])
def test_redact_text_hides_secret_pairs(text):
    assert "hunter2" not in redact_text(text) and "aHVudGVyMg" not in redact_text(text)


def test_redact_text_keeps_harmless_words():
    assert redact_text("target=apitoken:12") == "target=apitoken:12"
    assert redact_text("grant_type=refresh_token&client_id=x") == (
        "grant_type=refresh_token&client_id=x")


def _format(record: logging.LogRecord) -> str:
    assert RedactSecretsFilter().filter(record)
    return JsonFormatter().format(record)


def test_filter_redacts_secret_arguments_in_json_logs():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "user %s set %s",
                               ("ada", Secret("hunter2")), None)
    line = json.loads(_format(record))
    assert line["message"] == f"user ada set {REDACTED}"
