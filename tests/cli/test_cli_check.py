"""keystead check: each finding with its fix; exit 1 on any FAIL."""

import os

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def sound(settings, tmp_path, monkeypatch):
    """A configuration `check` should pass: generated key file 0600, loopback URL, no debug."""
    monkeypatch.delenv("KEYSTEAD_SECRET_KEY", raising=False)
    settings.DATA_DIR = tmp_path
    key = tmp_path / "secret_key"
    key.write_text("k" * 60)
    key.chmod(0o600)
    settings.BASE_URL = "http://127.0.0.1:8000"
    settings.DEBUG = False
    settings.EMAIL_CONFIGURED = False
    return settings


def test_sound_installation_passes_with_mail_warning(cli, sound, admin_user):
    result = cli("check")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "OK    database:" in out
    assert "OK    migrations: all applied" in out
    assert "OK    administrators: 1 active" in out
    assert "OK    secret key: generated file" in out and "0600" in out
    assert "OK    debug: off" in out
    assert ("WARN  mail: no mail server: set KEYSTEAD_EMAIL_URL=smtp://..., "
            "password-reset mail will only be printed") in out
    assert "0 FAIL" in out


def test_no_administrator_fails(cli, sound):
    result = cli("check")
    assert result.exit_code == 1
    assert "FAIL  administrators" in result.stdout
    assert "keystead createadmin" in result.stdout


def test_readable_secret_key_file_fails(cli, sound, admin_user, tmp_path):
    os.chmod(tmp_path / "secret_key", 0o644)
    result = cli("check")
    assert result.exit_code == 1
    assert "FAIL  secret key" in result.stdout
    assert f"chmod 600 {tmp_path / 'secret_key'}" in result.stdout


def test_secret_key_from_environment(cli, sound, admin_user, monkeypatch):
    monkeypatch.setenv("KEYSTEAD_SECRET_KEY", "x" * 60)
    assert "OK    secret key: from KEYSTEAD_SECRET_KEY" in cli("check").stdout


def test_plain_http_on_a_network_address_warns(cli, sound, admin_user):
    sound.BASE_URL = "http://id.example.com"
    result = cli("check")
    assert result.exit_code == 0
    assert "WARN  base URL" in result.stdout
    assert "KEYSTEAD_BASE_URL=https://" in result.stdout


def test_https_and_mail_are_ok(cli, sound, admin_user):
    sound.BASE_URL = "https://id.example.com"
    sound.EMAIL_CONFIGURED = True
    sound.EMAIL_HOST, sound.EMAIL_PORT = "mail.example.com", 587
    out = cli("check").stdout
    assert "OK    base URL: https://id.example.com uses https" in out
    assert "OK    mail: SMTP server mail.example.com:587" in out


def test_debug_on_a_public_address_fails(cli, sound, admin_user):
    sound.BASE_URL = "https://id.example.com"
    sound.DEBUG = True
    result = cli("check")
    assert result.exit_code == 1
    assert "FAIL  debug" in result.stdout
    assert "unset KEYSTEAD_DEBUG" in result.stdout
