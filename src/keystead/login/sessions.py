"""Database sessions that store a new session with one INSERT instead of seven round trips.

Django's database session store, unchanged except for how a *new* session
comes into being. A sign-in is the hot path that creates one: ``login()``
calls ``cycle_key()`` on the anonymous (not yet stored) session, which with
Django's store means

1. ``SELECT 1 FROM django_session WHERE session_key = <random key>`` (is it free?),
2. ``BEGIN; INSERT`` the session as it is now (empty); ``COMMIT``,
3. and when the response goes out, ``BEGIN; UPDATE`` the same row with the
   signed-in data; ``COMMIT``.

Here a session that was never stored gets its key and its single INSERT when
the response goes out (``BEGIN; INSERT; COMMIT``), and a new key is not looked
up first: it is 32 random characters from 36 (165 bits), and the INSERT is
made with ``must_create``, so the impossible collision would still be caught
(``CreateError``) and ``create()`` would draw another key. Measured with
``bench/login.py`` (docs/performance.md): four fewer database round trips per
password sign-in.

Session fixation stays impossible: a session that *was* stored under some key
still gets a new key at sign-in (Django's ``cycle_key``), and one that was not
stored has no key an attacker could have planted: its key is drawn when it is
first saved, after the sign-in.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.utils.crypto import get_random_string


class SessionStore(db.SessionStore):
    def _get_new_session_key(self) -> str:
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self) -> None:
        if self.session_key is None:
            # Nothing stored under any key: no old key to retire and nothing to copy.
            # The data is written once, under a fresh key, when the response goes out.
            self.modified = True
            return
        super().cycle_key()
