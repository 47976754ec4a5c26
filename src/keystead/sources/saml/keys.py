"""Keystead's own SP key pair: signs its requests and metadata, decrypts assertions.

Generated once per source (RSA 3072, a self-signed certificate for ten years:
SAML peers pin the certificate itself, so a CA adds nothing). The private key
leaves this module only encrypted (``SamlSource.set_sp_key_pair``).
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from keystead.secret import Secret

VALID_DAYS = 3650


def generate(common_name: str) -> tuple[Secret, str]:
    """A new private key (PEM, as a Secret) and its self-signed certificate (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return Secret(private), cert.public_bytes(serialization.Encoding.PEM).decode()
