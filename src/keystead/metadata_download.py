"""A SAML metadata document read from its URL, for both sides of SAML: the identity
provider Keystead signs people in through, and the service providers it signs people
in to.

The address is the operator's, but the server behind it is not: what it sends is
read in pieces and refused past ``MAX_BYTES`` (an aggregate of a whole federation,
or a server that never stops), and the whole read is bounded by ``FETCH_SECONDS``
(a server that answers a byte at a time would otherwise hold the request that
asked, for as long as it likes).
"""

from __future__ import annotations

import time

import httpx

FETCH_SECONDS = 10.0
MAX_BYTES = 2 * 1024 * 1024


class MetadataProblem(ValueError):
    """The metadata cannot be used; the message names the problem and the fix."""


def fetch(url: str) -> str:
    """The document at ``url`` (https, or http for a server on a trusted network)."""
    if not url.startswith(("https://", "http://")):
        raise MetadataProblem("The metadata URL must start with https:// (or http://).")
    deadline = time.monotonic() + FETCH_SECONDS
    try:
        with httpx.stream("GET", url, timeout=FETCH_SECONDS, follow_redirects=True) as answer:
            if answer.status_code != 200:
                raise MetadataProblem(f"The metadata URL answered HTTP {answer.status_code}: "
                                      "check the address.")
            body = _read_within(answer, deadline)
    except httpx.HTTPError as exc:
        raise MetadataProblem(f"The metadata URL could not be fetched ({type(exc).__name__}): "
                              "check the address and that Keystead can reach it.") from exc
    return body.decode(answer.charset_encoding or "utf-8", "replace")


def _read_within(answer: httpx.Response, deadline: float) -> bytes:
    body = bytearray()
    for piece in answer.iter_bytes():
        body += piece
        if len(body) > MAX_BYTES:
            raise MetadataProblem("The metadata URL answered with more than 2 MB: give the "
                                  "address of one provider's metadata, not a federation's.")
        if time.monotonic() > deadline:
            raise MetadataProblem(f"The metadata URL did not finish answering within "
                                  f"{FETCH_SECONDS:.0f} s: check the address, or paste the "
                                  "metadata instead.")
    return bytes(body)
