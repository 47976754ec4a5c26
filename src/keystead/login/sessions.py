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
the response goes out, and a new key is not looked up first: it is 160 random
bits (32 characters, base32 in lower case), and the INSERT is made with ``must_create``,
so the impossible collision would still be caught (``CreateError``) and
``create()`` would draw another key. Django wraps that INSERT in
``BEGIN``/``COMMIT`` (a transaction, so that a failed INSERT cannot spoil an
outer one); outside any transaction (autocommit, as when the response goes
out) a single INSERT is atomic by itself and a failed one leaves nothing
behind, so it is sent alone, on PostgreSQL as a plain prepared statement
(``keystead.hot_sql``: the ORM's model save cost more CPU than the write).
Inside a transaction Django's way is kept.
Measured with ``bench/login.py`` (docs/performance.md): six fewer database
round trips per password sign-in than Django's store.

Session fixation stays impossible: a session that *was* stored under some key
still gets a new key at sign-in (Django's ``cycle_key``), and one that was not
stored has no key an attacker could have planted: its key is drawn when it is
first saved, after the sign-in.
"""

from __future__ import annotations

import base64
import secrets
from functools import cache

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import CreateError
from django.db import IntegrityError, connection, router, transaction

from keystead import hot_sql, plain_reads


@cache
def _insert_sql(model: type) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column)
                        for name in ("session_key", "session_data", "expire_date"))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES (%s, %s, %s)"  # noqa: S608


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

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        if not must_create:
            return super().save(must_create=False)
        data = self._get_session(no_load=True)
        obj = self.create_model_instance(data)
        using = router.db_for_write(self.model, instance=obj)
        if transaction.get_connection(using).in_atomic_block:
            # A failed INSERT must not abort the caller's transaction: Django's savepoint.
            return super().save(must_create=True)
        try:
            if plain_reads.available() and using == connection.alias:
                expires = hot_sql.db_value(self.model, "expire_date", obj.expire_date)
                with hot_sql.execute(_insert_sql(self.model),
                                     [obj.session_key, obj.session_data, expires]):
                    pass
            else:
                obj.save(force_insert=True, using=using)
        except IntegrityError:
            raise CreateError from None
        return None
