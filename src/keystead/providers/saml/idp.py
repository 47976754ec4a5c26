"""The pysaml2 identity provider, built from Keystead's settings for each request.

Built per request because the signing key may rotate and applications change at
any time, and every web process must agree without a restart. Only the metadata
of the application concerned is loaded.

Forced here: RSA-SHA256 signatures with SHA-256 digests (pysaml2 defaults to
SHA-1) and, in ``responses``, AES-256 for encrypted assertions (pysaml2 defaults to
3DES). xmlsec1 reads keys from files, so the decrypted signing key is written to a
private temporary directory (mode 0700, file 0600) for the duration of the request
and removed after it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from django.conf import settings
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAME_FORMAT_URI
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from keystead.providers.saml import keys
from keystead.providers.saml.models import EMAIL, PERSISTENT, UNSPECIFIED, SamlApplication
from keystead.xmlsec_files import key_pair_files

SIGN_ALG = SIG_RSA_SHA256
DIGEST_ALG = DIGEST_SHA256
ASSERTION_MINUTES = 5
CLOCK_SKEW_SECONDS = 120
#: The authentication context an assertion states when nothing more is known (a Keystead
#: sign-in is at least a password over HTTPS); ``authn_context`` chooses the real one.
AUTHN_CLASS = AUTHN_PASSWORD_PROTECTED


def entity_id() -> str:
    """The IdP's entity ID: its metadata address, stable for the installation."""
    return f"{settings.BASE_URL}/saml/metadata"


def endpoint(name: str) -> str:
    return f"{settings.BASE_URL}/saml/{name}"


def xmlsec_binary() -> str:
    found = shutil.which("xmlsec1")
    if not found:
        raise RuntimeError("xmlsec1 is not installed: install Debian's xmlsec1 package.")
    return found


def key_files(key: keys.SigningKey) -> AbstractContextManager[tuple[str, str]]:
    """(key file, certificate file) of ``key`` for xmlsec1, removed afterwards."""
    return key_pair_files(keys.private_pem(key), key.certificate)


def config_dict(key_file: str, cert_file: str, application: SamlApplication | None = None,
                *, want_signed_requests: bool = False,
                additional_cert_files: list[str] | None = None) -> dict:
    return {
        "entityid": entity_id(),
        "xmlsec_binary": xmlsec_binary(),
        "key_file": key_file,
        "cert_file": cert_file,
        "additional_cert_files": additional_cert_files or None,
        "metadata": {"inline": [application.metadata_xml]} if application else {},
        "attribute_map_dir": str(Path(__file__).parent / "attribute_maps"),
        "signing_algorithm": SIGN_ALG,
        "digest_algorithm": DIGEST_ALG,
        "accepted_time_diff": CLOCK_SKEW_SECONDS,
        "delete_tmpfiles": True,
        "service": {"idp": {
            "name": "Keystead",
            "endpoints": {
                "single_sign_on_service": [(endpoint("sso/redirect"), BINDING_HTTP_REDIRECT),
                                           (endpoint("sso/post"), BINDING_HTTP_POST)],
                "single_logout_service": [(endpoint("slo/redirect"), BINDING_HTTP_REDIRECT),
                                          (endpoint("slo/post"), BINDING_HTTP_POST)],
            },
            "name_id_format": [PERSISTENT, EMAIL, UNSPECIFIED],
            "want_authn_requests_signed": want_signed_requests,
            # An SP whose metadata lists <RequestedAttribute>s gets only those of the
            # configured attributes; one Keystead does not release is left out, not an error.
            "policy": {"default": {"lifetime": {"minutes": ASSERTION_MINUTES},
                                   "name_form": NAME_FORMAT_URI,
                                   "fail_on_missing_requested": False}},
        }},
    }


@contextmanager
def server(application: SamlApplication | None = None, *,
           want_signed_requests: bool = False) -> Iterator[Server]:
    """A pysaml2 ``Server`` signing with the current key, knowing ``application``'s SP."""
    with key_files(keys.current()) as (key_file, cert_file):
        config = IdPConfig().load(config_dict(key_file, cert_file, application,
                                              want_signed_requests=want_signed_requests))
        yield Server(config=config)
