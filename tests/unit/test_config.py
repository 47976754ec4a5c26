import os
import stat

import pytest

from keystead.config import ConfigError, load_or_create_secret_key, parse_email_url


def test_console_mail_by_default():
    settings = parse_email_url("")
    assert settings.backend.endswith("console.EmailBackend") and not settings.configured


def test_smtp_url_with_credentials_and_sender():
    settings = parse_email_url("smtp+starttls://bot%40x:p%2Fw@mail.example.com?from=id@example.com")
    assert (settings.host, settings.port, settings.use_tls) == ("mail.example.com", 587, True)
    assert (settings.user, settings.password) == ("bot@x", "p/w")
    assert settings.default_from == "id@example.com" and settings.configured


def test_unknown_mail_scheme_says_what_is_accepted():
    with pytest.raises(ConfigError, match="smtp://"):
        parse_email_url("imap://mail.example.com")


def test_a_password_with_an_unencoded_slash_is_refused_without_repeating_it():
    with pytest.raises(ConfigError, match="percent-encoded") as refused:
        parse_email_url("smtp://mailer:Sup3r/Secr3t@mail.example.com:587")
    assert "Sup3r" not in str(refused.value) and refused.value.__cause__ is None
    assert refused.value.__suppress_context__


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    first = load_or_create_secret_key(tmp_path)
    assert load_or_create_secret_key(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_the_embedded_database_and_its_journal_are_owner_only(tmp_path):
    """A fresh data directory through a real ``keystead migrate`` on SQLite."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    data = tmp_path / "data"
    env = {**os.environ, "KEYSTEAD_DATA_DIR": str(data),
           "KEYSTEAD_DATABASE_URL": f"sqlite:///{data / 'keystead.sqlite3'}"}
    keystead = Path(sys.executable).with_name("keystead")
    subprocess.run([str(keystead), "migrate"], env=env, check=True, capture_output=True)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("keystead.sqlite3", "secret_key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    for journal in data.glob("keystead.sqlite3-*"):
        assert stat.S_IMODE(journal.stat().st_mode) & 0o077 == 0, journal.name


def test_a_number_below_its_minimum_is_refused_with_the_fix(monkeypatch):
    from keystead import config

    monkeypatch.setenv("KEYSTEAD_TEST_DAYS", "-1")
    with pytest.raises(config.ConfigError, match=r"KEYSTEAD_TEST_DAYS=-1 is less than 0; say"):
        config.env_int("KEYSTEAD_TEST_DAYS", 30, minimum=0, hint="; say 0 or more")
    monkeypatch.setenv("KEYSTEAD_TEST_DAYS", "0")
    assert config.env_int("KEYSTEAD_TEST_DAYS", 30, minimum=0) == 0
    monkeypatch.delenv("KEYSTEAD_TEST_DAYS")
    assert config.env_int("KEYSTEAD_TEST_DAYS", 30, minimum=0) == 30


def test_a_number_above_its_maximum_is_refused_with_the_fix(monkeypatch):
    from keystead import config

    monkeypatch.setenv("KEYSTEAD_TEST_DAYS", "3651")
    with pytest.raises(config.ConfigError,
                       match=r"KEYSTEAD_TEST_DAYS=3651 is more than 3650 \(ten years"):
        config.env_int("KEYSTEAD_TEST_DAYS", 30, maximum=3650, hint=" (ten years at most)")
    monkeypatch.setenv("KEYSTEAD_TEST_DAYS", "3650")
    assert config.env_int("KEYSTEAD_TEST_DAYS", 30, maximum=3650) == 3650


def test_the_api_token_lifetime_setting_is_bounded_like_every_door(tmp_path):
    import subprocess
    import sys

    check = subprocess.run(
        [sys.executable, "-c", "import django, os; "
         "os.environ['DJANGO_SETTINGS_MODULE'] = 'keystead.settings'; django.setup()"],
        env={**os.environ, "KEYSTEAD_API_TOKEN_DAYS": "99999999999",
             "KEYSTEAD_DATA_DIR": str(tmp_path)}, capture_output=True, text=True)
    assert check.returncode != 0
    assert "KEYSTEAD_API_TOKEN_DAYS=99999999999 is more than 3650" in check.stderr
