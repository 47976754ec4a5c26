"""The session store that writes a new session once: no session fixation, nothing lost."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from keystead.directory.models import User
from keystead.login.sessions import SessionStore

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]
PASSWORD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture
def ada():
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


def sign_in(client: Client):
    response = client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 302
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_a_stored_session_gets_a_new_key_at_sign_in(ada):
    before = SessionStore()
    before["theme"] = "dark"
    before.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = before.session_key
    after = sign_in(client)
    assert after != before.session_key
    assert not Session.objects.filter(session_key=before.session_key).exists()
    assert SessionStore(after).load()["theme"] == "dark"


def test_a_planted_key_that_was_never_stored_is_not_used(ada):
    planted = "a" * 32
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted
    assert sign_in(client) != planted
    assert not Session.objects.filter(session_key=planted).exists()


def test_a_new_session_is_stored_once_with_the_person(ada):
    client = Client()
    key = sign_in(client)
    assert Session.objects.count() == 1
    assert SessionStore(key).load()["_auth_user_id"] == str(ada.pk)
    assert client.get("/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_sign_in_writes_event_last_login_and_session_in_one_commit(ada, monkeypatch):
    """All three writes in one transaction; on PostgreSQL also in one statement, sent with
    the COMMIT (one round trip: ``hot_sql.transaction_writes_at_commit``)."""
    import re

    from django.db import connection

    from keystead import pg_wire

    statements, commits = [], []  # per write statement: the writes in it, autocommit then

    def note(sql):
        found = sorted(re.findall(r'(INSERT INTO|UPDATE|DELETE FROM) "(django_session|'
                                  r'directory_event|directory_user)"', sql))
        if found:
            statements.append((found, connection.get_autocommit()))

    def spy(execute, sql, params, many, context):  # the ORM's statements
        note(sql)
        return execute(sql, params, many, context)

    pipelines = []  # on PostgreSQL: the statements sent through libpq, each round trip's

    def wire_spy(name, send):
        def spied(conn, *args, **kwargs):
            sent = args[0] if name == "pipeline" else [(args[0], args[1])]
            pipelines.append([sql for sql, _ in sent])
            for sql, _ in sent:
                note(sql if isinstance(sql, str) else sql.decode())
            return send(conn, *args, **kwargs)
        return spied

    for name in ("run", "send", "pipeline"):
        monkeypatch.setattr(pg_wire, name, wire_spy(name, getattr(pg_wire, name)))
    commit = connection.commit
    monkeypatch.setattr(connection, "commit", lambda: (commits.append(1), commit())[1])
    client = Client()
    with connection.execute_wrapper(spy):
        key = sign_in(client)
    assert sorted(write for found, _ in statements for write in found) == [
        ("INSERT INTO", "directory_event"), ("INSERT INTO", "django_session"),
        ("UPDATE", "directory_user")]
    assert not any(autocommit for _, autocommit in statements)  # inside the transaction
    assert len(commits) == 1
    assert len(statements) == (1 if connection.vendor == "postgresql" else 3)
    if connection.vendor == "postgresql":  # BEGIN with the read, the COMMIT with the writes
        assert pipelines[0][0] == pg_wire.BEGIN
        assert pipelines[-1][-1] == pg_wire.COMMIT and len(pipelines) == 2
    assert SessionStore(key).load()["_auth_user_id"] == str(ada.pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_transaction", [True, False], ids=["in-transaction", "autocommit"])
def test_a_key_collision_draws_another_key(ada, monkeypatch, in_transaction):
    from contextlib import nullcontext

    from django.db import transaction

    taken = SessionStore()
    taken["owner"] = "someone else"
    taken.create()
    keys = iter([taken.session_key, "c" * 32])
    monkeypatch.setattr(SessionStore, "_get_new_session_key", lambda self: next(keys))
    with transaction.atomic() if in_transaction else nullcontext():
        store = SessionStore()
        store["_auth_user_id"] = str(ada.pk)
        store.save()
        assert store.session_key == "c" * 32
    assert SessionStore(taken.session_key).load() == {"owner": "someone else"}
    assert SessionStore("c" * 32).load()["_auth_user_id"] == str(ada.pk)


def test_a_session_saved_again_unchanged_is_not_written_again_but_a_change_is(ada):
    from django.contrib.sessions.backends.base import UpdateError
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    store = SessionStore()
    store["a"] = {"b": 1}
    store.save()
    with CaptureQueriesContext(connection) as unchanged:
        store.save()
    assert len(unchanged) == 0
    store["a"]["b"] = 2  # changed in place
    store.modified = True
    store.save()
    assert SessionStore(store.session_key).load() == {"a": {"b": 2}}
    store.delete()
    with pytest.raises(UpdateError):  # as with Django's store: it tries, the row is gone
        store.save()


def test_sign_in_records_last_login_with_one_receiver(ada):
    from django.contrib.auth.models import update_last_login
    from django.contrib.auth.signals import user_logged_in

    receivers = [entry[1]() for entry in user_logged_in.receivers]
    assert update_last_login not in receivers
    assert ada.last_login is None
    sign_in(Client())
    ada.refresh_from_db()
    assert ada.last_login is not None


def test_sessions_stored_compressed_are_still_read(ada):
    """Sessions are written uncompressed; one written compressed (Django's own encoding,
    as before) still signs the person in."""
    from django.contrib.sessions.backends.db import SessionStore as DjangoStore

    client = Client()
    key = sign_in(client)
    assert not Session.objects.get(session_key=key).session_data.startswith(".")
    data = SessionStore(key).load()
    compressed = DjangoStore().encode(data)
    assert compressed.startswith(".")  # Django's compressed form
    Session.objects.filter(session_key=key).update(session_data=compressed)
    assert SessionStore(key).load() == data
    assert client.get("/").status_code == 200
