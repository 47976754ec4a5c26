"""Keystead's IdP metadata: every published signing certificate, signed with the current key.

Built with pysaml2's ``entity_descriptor`` and ``sign_entity_descriptor``; the next
key (before it signs) and retired keys (during the overlap) are published as
additional signing certificates, so SPs trust them before and after the switch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor, sign_entity_descriptor
from saml2.sigver import security_context

from keystead.providers.saml import idp, keys


def signed_metadata() -> str:
    signing = keys.current()
    others = [key for key in keys.published() if key.pk != signing.pk]
    with idp.key_files(signing) as (key_file, cert_file), \
            tempfile.TemporaryDirectory(prefix="keystead-saml-md-") as directory:
        extra = []
        for key in others:
            path = Path(directory) / f"cert-{key.pk}.pem"
            path.write_text(key.certificate)
            extra.append(str(path))
        config = IdPConfig().load(idp.config_dict(key_file, cert_file,
                                                  additional_cert_files=extra))
        descriptor = entity_descriptor(config)
        # pysaml2 lists every algorithm xmlsec1 knows (MD5, SHA-1 …) as supported; Keystead
        # signs with RSA-SHA256 only, so the list would mislead.
        descriptor.extensions = None
        _, xml = sign_entity_descriptor(descriptor, None, security_context(config),
                                        sign_alg=idp.SIGN_ALG, digest_alg=idp.DIGEST_ALG)
    return xml if isinstance(xml, str) else xml.decode()
