"""Writes held to go with the commit (``hot_sql.transaction_writes_at_commit``): all or
nothing with the rest of the transaction, one statement on PostgreSQL, at once elsewhere."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from keystead import hot_sql
from keystead.directory import audit
from keystead.directory.models import Event, User
from keystead.login.sessions import SessionStore

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.smoke]
UPDATE_NAME = 'UPDATE "directory_user" SET "given_name" = %s WHERE "id" = %s'


@pytest.fixture
def ada():
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=None)


def test_held_writes_wait_for_the_end_of_the_block_then_report_what_they_wrote(ada):
    counts = []
    with hot_sql.transaction_writes_at_commit():
        audit.record("test.held", actor=ada)
        hot_sql.write_at_commit(UPDATE_NAME, ["Augusta", ada.pk], then=counts.append)
        hot_sql.write_at_commit(UPDATE_NAME, ["Nobody", -1], then=counts.append)
        held = connection.vendor == "postgresql"
        # Held on PostgreSQL: not written yet, even as seen from inside the transaction.
        assert Event.objects.filter(action="test.held").exists() is not held
        assert (User.objects.get(pk=ada.pk).given_name == "Augusta") is not held
        assert counts == ([] if held else [1, 0])
    assert counts == [1, 0]
    assert Event.objects.filter(action="test.held", actor=ada).count() == 1
    assert User.objects.get(pk=ada.pk).given_name == "Augusta"


def test_an_error_in_the_block_writes_nothing(ada):
    with pytest.raises(RuntimeError), hot_sql.transaction_writes_at_commit():
        audit.record("test.rolled_back", actor=ada)
        hot_sql.write_at_commit(UPDATE_NAME, ["Augusta", ada.pk])
        raise RuntimeError("after the writes")
    assert not Event.objects.filter(action="test.rolled_back").exists()
    assert User.objects.get(pk=ada.pk).given_name == "Ada"


def test_a_failing_held_write_undoes_the_whole_transaction(ada):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), hot_sql.transaction_writes_at_commit():
        User.objects.filter(pk=ada.pk).update(family_name="Byron")  # runs at once
        audit.record("test.undone", actor=ada)
        hot_sql.write_at_commit('UPDATE "directory_user" SET "email" = NULL WHERE "id" = %s',
                                [ada.pk])
    assert not Event.objects.filter(action="test.undone").exists()
    assert User.objects.get(pk=ada.pk).family_name == "Lovelace"


def test_inside_a_savepoint_or_another_transaction_writes_run_at_once(ada):
    if connection.vendor != "postgresql":
        pytest.skip("writes are held on PostgreSQL only")
    with hot_sql.transaction_writes_at_commit():
        assert hot_sql.holding_writes()
        # A savepoint inside the block could roll back on its own: nothing is held in it.
        with transaction.atomic():
            assert not hot_sql.holding_writes()
            hot_sql.write_at_commit(UPDATE_NAME, ["Augusta", ada.pk])
            assert User.objects.get(pk=ada.pk).given_name == "Augusta"
    with transaction.atomic(), hot_sql.transaction_writes_at_commit():
        assert not hot_sql.holding_writes()


def test_a_held_session_insert_whose_key_is_taken_is_stored_under_another_key(ada,
                                                                             monkeypatch):
    taken = SessionStore()
    taken["owner"] = "someone else"
    taken.create()
    keys = iter([taken.session_key, "d" * 32])
    monkeypatch.setattr(SessionStore, "_get_new_session_key", lambda self: next(keys))
    with hot_sql.transaction_writes_at_commit():
        store = SessionStore()
        store["_auth_user_id"] = str(ada.pk)
        store.save()
        store["late"] = "changed after the first save"
        store.save()
        audit.record("test.with_session", actor=ada)
    assert store.session_key == "d" * 32
    assert SessionStore("d" * 32).load() == {"_auth_user_id": str(ada.pk),
                                             "late": "changed after the first save"}
    assert SessionStore(taken.session_key).load() == {"owner": "someone else"}
    assert Event.objects.filter(action="test.with_session").count() == 1


def test_a_session_whose_held_insert_was_never_sent_is_written_when_saved_again():
    if connection.vendor != "postgresql":
        pytest.skip("writes are held on PostgreSQL only")
    store = SessionStore()
    with pytest.raises(RuntimeError), hot_sql.transaction_writes_at_commit():
        store["theme"] = "dark"
        store.save()
        raise RuntimeError("the block is rolled back: the INSERT is never sent")
    store.save()
    assert SessionStore(store.session_key).load() == {"theme": "dark"}
