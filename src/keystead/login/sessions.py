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
it is first saved, and a new key is not looked up first: it is 160 random
bits (32 characters, base32 in lower case). The impossible collision is still
caught and ``create()`` draws another key (``CreateError``): on PostgreSQL
the INSERT is a plain prepared statement (``keystead.hot_sql``; the ORM's model
save cost more CPU than the write) with ``ON CONFLICT DO NOTHING``, which
reports a taken key without an error, so it needs neither a transaction of
its own nor, inside the caller's, a savepoint. Elsewhere it is Django's INSERT,
inside a savepoint when the caller has a transaction (so a collision cannot
spoil it) and alone when not (a single INSERT is atomic by itself).

A session saved again with the same key and the same data in the same request
is not written again. The password sign-in saves its new session itself,
inside the transaction that writes the audit event and ``last_login``, so the
three writes are one commit (one WAL flush) instead of three; the session
middleware's save when the response goes out then finds nothing changed.

Measured with ``bench/login.py`` (docs/performance.md).

Session fixation stays impossible: a session that *was* stored under some key
still gets a new key at sign-in (Django's ``cycle_key``), and one that was not
stored has no key an attacker could have planted: its key is drawn when it is
first saved, after the sign-in.
"""

from __future__ import annotations

import base64
import json
import secrets
from functools import cache

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import CreateError
from django.core import signing
from django.db import IntegrityError, connection, router, transaction

from keystead import hot_sql, plain_reads


@cache
def _insert_sql(model: type) -> str:
    columns = ", ".join(hot_sql.column(model, name)
                        for name in ("session_key", "session_data", "expire_date"))
    return (f"INSERT INTO {hot_sql.table(model)} ({columns}) "  # noqa: S608
            f"VALUES (%s, %s, %s) ON CONFLICT ({hot_sql.column(model, 'session_key')})"
            " DO NOTHING")


class SessionStore(db.SessionStore):
    def _get_new_session_key(self) -> str:
        # 160 bits from the OS, as 32 characters of Django's key alphabet (a-z, 2-7): one
        # call, where Django's get_random_string draws each character on its own.
        return base64.b32encode(secrets.token_bytes(20)).decode().lower()

    def cycle_key(self) -> None:
        if self.session_key is None:
            # Nothing stored under any key: no old key to retire and nothing to copy.
            # The data is written once, under a fresh key, when the response goes out.
            self.modified = True
            return
        super().cycle_key()

    def encode(self, session_dict: dict) -> str:
        """Django's signed session data, not compressed: a signed-in session is about 280
        characters, which zlib made about 230, and setting up a compressor for that (a
        quarter of a megabyte of state) was a third of the encoding's CPU on every sign-in.
        ``decode`` reads both forms, so sessions stored either way keep working."""
        return signing.dumps(session_dict, salt=self.key_salt, serializer=self.serializer,
                             compress=False)

    _stored: tuple[str, str] | None = None  # (key, data) as last written in this request

    def _as_written(self) -> tuple[str, str]:
        return self.session_key, json.dumps(self._session, sort_keys=True, default=str)

    # Its INSERT is held to go with the sign-in's commit (``hot_sql.write_at_commit``) and
    # will read the data as it is then: a save meanwhile has nothing to write.
    _insert_held = False

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        if self._insert_held:
            if hot_sql.in_writes_at_commit_block():
                return None  # the held INSERT will write the data as it is then
            # The block ended without sending it (rolled back): the row does not exist.
            self._insert_held = False
            must_create = True
        if not must_create and self._stored is not None and self._stored == self._as_written():
            return None  # written already in this request, and nothing changed since
        if must_create:
            self._insert()
            if self._insert_held:
                return None  # what is written is known when it is sent
        else:
            super().save(must_create=False)
        self._stored = self._as_written()
        return None

    def _row(self) -> list:
        """The INSERT's values (``create_model_instance``'s, without the model instance).
        The data is read first: it must not be loaded (``get_expiry_date`` reads it), as
        loading a session not stored yet forgets its key."""
        data = self._get_session(no_load=True)
        expires = hot_sql.db_value(self.model, "expire_date", self.get_expiry_date())
        return [self.session_key, self.encode(data), expires]

    def _row_when_sent(self) -> list:
        """The held INSERT's values: the session as it is at the commit."""
        self._insert_held = False
        self._stored = self._as_written()
        return self._row()

    def _new_key_if_taken(self, written: int) -> None:
        """The held INSERT found its key taken (it wrote nothing; the rest of the
        transaction stands): the session is stored under a new key, at once."""
        if written != 1:
            self._stored = None
            self.create()

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None or session_key == self.session_key:
            self._stored = None  # gone: a later save must write it again
        super().delete(session_key)

    def _insert(self) -> None:
        using = router.db_for_write(self.model)
        if plain_reads.available() and using == connection.alias:
            if hot_sql.holding_writes():
                self._insert_held = True
                hot_sql.write_at_commit(_insert_sql(self.model), self._row_when_sent,
                                        then=self._new_key_if_taken)
                return
            with hot_sql.execute(_insert_sql(self.model), self._row()) as cursor:
                if cursor.rowcount != 1:  # the key is taken
                    raise CreateError
            return
        obj = self.create_model_instance(self._get_session(no_load=True))
        if transaction.get_connection(using).in_atomic_block:
            # A failed INSERT must not abort the caller's transaction: Django's savepoint.
            super().save(must_create=True)
            return
        try:
            obj.save(force_insert=True, using=using)
        except IntegrityError:
            raise CreateError from None
