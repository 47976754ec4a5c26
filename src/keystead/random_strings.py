"""Random strings for Django's CSRF tokens from one system call, not one per character.

Django draws each character of a CSRF secret and of each token's mask with
``secrets.choice``: a ``getrandom`` system call and a few Python calls per
character, 64 characters for every page with a form and 32 more at every
sign-in (``rotate_token``). On the sign-in page that was four tenths of the
CPU of the whole request once the page itself was rendered once
(``portal.sign_in_page``).

``random_string`` gives the same thing, each character drawn uniformly and
independently from the alphabet by the operating system's CSPRNG, from one
``os.urandom`` call: bytes at or above the largest multiple of the alphabet's
size are dropped (8 of 256 for the 62 CSRF characters), the rest map to a
character by their remainder, all in C (``bytes.translate``). ``install``
puts it in the CSRF module's place of ``get_random_string`` (Django 5.2: used
by ``_get_new_csrf_string`` only); it refuses to start if that is no longer
where Django looks.
"""

from __future__ import annotations

import os
from functools import cache

from django.utils.crypto import RANDOM_STRING_CHARS


@cache
def _tables(allowed_chars: str) -> tuple[bytes, bytes]:
    """The byte-to-character table and the bytes to drop for this alphabet."""
    size = len(allowed_chars)
    usable = 256 - 256 % size  # every remainder equally often among 0 .. usable - 1
    alphabet = allowed_chars.encode("ascii")
    return bytes(alphabet[byte % size] for byte in range(256)), bytes(range(usable, 256))


def random_string(length: int, allowed_chars: str = RANDOM_STRING_CHARS) -> str:
    """``length`` characters, each uniform over ``allowed_chars`` (ASCII, 2 to 256 distinct
    characters), from the operating system's CSPRNG."""
    if not 2 <= len(allowed_chars) <= 256 or not allowed_chars.isascii():
        raise ValueError("allowed_chars must be 2 to 256 ASCII characters")
    table, dropped = _tables(allowed_chars)
    drawn = b""
    while len(drawn) < length:
        drawn += os.urandom(length + 16).translate(table, dropped)
    return drawn[:length].decode("ascii")


def install() -> None:
    """Use ``random_string`` for Django's CSRF secrets and masks."""
    from django.middleware import csrf

    if not callable(getattr(csrf, "get_random_string", None)):
        raise RuntimeError("django.middleware.csrf no longer uses get_random_string: "
                           "keystead.random_strings.install needs updating")
    csrf.get_random_string = random_string
