"""Which XML signature algorithms Keystead refuses, for both of its SAML roles.

One rule for the service provider (responses from an IdP) and the identity provider
(requests from applications): a signature or digest made with SHA-1, MD5 or
RIPEMD-160 is refused. SHA-1 collisions are practical (SHAttered, 2017; chosen-prefix
2020), and pysaml2 and xmlsec1 would otherwise verify them without complaint.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

#: Parts of an algorithm URI that mark it as too weak to sign with (any case).
WEAK_SIGNING_MARKERS = ("sha1", "md5", "ripemd")
_DS = "{http://www.w3.org/2000/09/xmldsig#}"


def is_weak(algorithm: str) -> bool:
    """Whether ``algorithm`` (a SignatureMethod, DigestMethod or SigAlg URI) is refused."""
    return any(marker in algorithm.lower() for marker in WEAK_SIGNING_MARKERS)


def weak_signing_algorithm(root: Element) -> str | None:
    """The first refused SignatureMethod or DigestMethod algorithm anywhere in ``root``
    (a parsed document: nested signatures count too), None when there is none."""
    for tag in (f"{_DS}SignatureMethod", f"{_DS}DigestMethod"):
        for element in root.iter(tag):
            algorithm = element.get("Algorithm", "")
            if is_weak(algorithm):
                return algorithm
    return None
