"""A private key and its certificate as files, for as long as xmlsec1 needs them.

pysaml2 hands keys to xmlsec1 by file name only, so the SAML service provider
and identity provider both write their decrypted key to a private directory
(mode 0700, the key file 0600) for the length of one request and remove it
afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from keystead.secret import Secret


@contextmanager
def key_pair_files(private_pem: Secret, certificate_pem: str) -> Iterator[tuple[str, str]]:
    """(key file, certificate file), removed when the ``with`` block ends."""
    directory = tempfile.mkdtemp(prefix="keystead-saml-")
    try:
        key_path, cert_path = Path(directory, "key.pem"), Path(directory, "cert.pem")
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(private_pem.reveal())
        cert_path.write_text(certificate_pem)
        yield str(key_path), str(cert_path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
