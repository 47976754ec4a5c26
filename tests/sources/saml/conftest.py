"""A SAML source configured against a Lasso identity provider (``lasso_idp.py``).

Lasso shares no code with pysaml2, so what Keystead's SP accepts and refuses
is checked against an independent implementation. Lasso lives in Debian's
system Python, which runs the IdP as a subprocess per response.
"""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SYSTEM_PYTHON = "/usr/bin/python3"
LASSO_IDP = Path(__file__).with_name("lasso_idp.py")
IDP_ENTITY_ID = "https://idp.example.test/saml/metadata"
IDP_SSO_URL = "https://idp.example.test/saml/sso"
BASE_URL = "http://testserver"


@dataclass(frozen=True)
class KeyPair:
    key: str
    cert: str


def make_key_pair(name: str, *, days: int = 365, offset_days: int = -1) -> KeyPair:
    """An RSA key and a self-signed certificate valid from ``offset_days`` for ``days``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=offset_days)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return KeyPair(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(),
        cert.public_bytes(serialization.Encoding.PEM).decode())


@pytest.fixture(scope="session")
def idp_keys() -> KeyPair:
    return make_key_pair("Lasso test IdP")


@pytest.fixture(scope="session")
def other_keys() -> KeyPair:
    return make_key_pair("Somebody else")


def run_lasso(job: dict) -> dict:
    done = subprocess.run([SYSTEM_PYTHON, str(LASSO_IDP)], input=json.dumps(job),
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(f"lasso IdP failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout)


@pytest.fixture
def saml_source(db, settings, idp_keys):
    """An enabled source trusting the Lasso IdP's certificate, matching people by email."""
    from keystead.sources.saml import configuration
    from keystead.sources.saml.models import SamlSource

    settings.BASE_URL = BASE_URL
    source = SamlSource(name="Example IdP", idp_entity_id=IDP_ENTITY_ID, sso_url=IDP_SSO_URL,
                        certificate=idp_keys.cert)
    judgement = configuration.complete(source)
    assert not judgement.errors, judgement.errors
    configuration.ensure_key_pair(source)
    source.save()
    return source


@dataclass
class Idp:
    """Drives one SP-initiated sign-in: Keystead's request to Lasso, Lasso's answer back."""

    client: object
    keys: KeyPair

    def sp_metadata(self) -> str:
        return self.client.get("/sources/saml/metadata").content.decode()

    def request(self, path: str = "/sources/saml/login") -> str:
        """Start a sign-in; the AuthnRequest as Lasso receives it (redirect query)."""
        answer = self.client.get(path)
        assert answer.status_code == 302, answer.content[:500]
        location = answer["Location"]
        assert location.startswith(IDP_SSO_URL)
        return urlsplit(location).query

    def respond(self, request: str, *, name_id: str, name_id_format: str, binding="redirect",
                attributes: dict | None = None, keys: KeyPair | None = None,
                **extra) -> str:
        """A base64 SAMLResponse from Lasso for ``request``."""
        keys = keys or self.keys
        answer = run_lasso({
            "idp_key": keys.key, "idp_cert": keys.cert, "entity_id": IDP_ENTITY_ID,
            "sso_url": IDP_SSO_URL, "sp_metadata": self.sp_metadata(), "request": request,
            "binding": binding, "name_id": name_id, "name_id_format": name_id_format,
            "attributes": attributes or {}, **extra})
        assert answer["url"] == f"{BASE_URL}/sources/saml/acs"
        return answer["response"]

    def post(self, response: str):
        return self.client.post("/sources/saml/acs", {"SAMLResponse": response})


@pytest.fixture
def idp(client, saml_source, idp_keys) -> Idp:
    return Idp(client, idp_keys)


def response_xml(encoded: str) -> str:
    return base64.b64decode(encoded).decode()


def encoded(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()
