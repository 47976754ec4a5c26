"""keystead oidc: key rotation keeps the old key published; clients are listed without secrets."""

import pytest
from django.test import Client
from jwcrypto import jwk

from keystead.directory.models import Event
from keystead.providers.oidc import keys, signing

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    signing.reset()
    yield tmp_path
    signing.reset()


def _kid(pem: str) -> str:
    return jwk.JWK.from_pem(pem.encode()).thumbprint()


def test_rotate_key_retires_the_current_key_and_says_to_restart(cli, data_dir):
    old = keys.load_or_create_signing_key(data_dir)
    result = cli("oidc", "rotate-key")
    assert result.exit_code == 0, result.output
    new = (data_dir / keys.KEY_FILE).read_text()
    assert new != old
    assert keys.retired_signing_keys(data_dir) == [old]
    assert _kid(old) in result.output and _kid(new) in result.output
    assert "Restart every Keystead web process" in result.output
    event = Event.objects.get(action="oidc.signing_key_rotated")
    assert event.detail == {"algorithm": "RS256", "new_kid": _kid(new),
                            "retired_kid": _kid(old), "door": "cli"}
    assert "PRIVATE KEY" not in str(event.detail)
    assert oct((data_dir / keys.KEY_FILE).stat().st_mode & 0o777) == "0o600"


def test_rotate_es256_key_keeps_the_old_one_in_the_jwks(cli, data_dir):
    before = signing.current_key().thumbprint()
    result = cli("oidc", "rotate-key", "--algorithm", "ES256")
    assert result.exit_code == 0, result.output
    signing.reset()  # what a restart does
    published = {k["kid"] for k in Client().get("/.well-known/jwks.json").json()["keys"]
                 if k["alg"] == "ES256"}
    assert published == {before, signing.current_key().thumbprint()}


def test_clients_lists_applications_without_secrets(cli):
    from oauth2_provider.models import get_application_model

    Application = get_application_model()
    assert "No applications" in cli("oidc", "clients").output
    secret = "s3cret-shown-once-" + "x" * 20
    app = Application.objects.create(
        name="Wiki", client_type=Application.CLIENT_CONFIDENTIAL, client_secret=secret,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://rp.example.com/callback", algorithm=Application.RS256_ALGORITHM)
    result = cli("oidc", "clients")
    assert result.exit_code == 0, result.output
    assert "Wiki" in result.output and app.client_id in result.output
    assert "https://rp.example.com/callback" in result.output
    assert secret not in result.output
