"""A right password whose verification was under way when wrong guesses locked the
account does not sign in: the lock is asked again at the last step (``lockout.admit``).

The wrong guesses run on their own PostgreSQL connections and commit while the right
one sits between its password check and its admission, as several web processes
would interleave them."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from keystead.directory.models import Event, User
from keystead.login import lockout
from keystead.login.passwords import Result, sign_in_with_password
from keystead.policy.models import LogonPolicy
from keystead.secret import Secret

RIGHT = "Quartz-Lantern-Meadow-1906"


@pytest.fixture
def grace(db) -> User:
    policy = LogonPolicy.current()
    policy.max_failures = 3
    policy.save()
    return User.objects.create_user("grace@example.com", "Grace", "Hopper", password=RIGHT)


def _wrong_guesses_elsewhere(count: int) -> None:
    def guess() -> None:
        try:
            for attempt in range(count):
                with transaction.atomic():
                    sign_in_with_password("grace@example.com", Secret(f"wrong-{attempt}"))
        finally:
            connection.close()

    elsewhere = threading.Thread(target=guess)
    elsewhere.start()
    elsewhere.join(30)


@pytest.mark.django_db(transaction=True)
def test_the_lock_taken_while_a_right_password_was_verified_keeps_it_out(grace, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the guesses run on connections of their own")
    verify = User.check_password

    def verified_while_others_guess(user: User, raw: str) -> bool:
        right = verify(user, raw)
        if raw == RIGHT:
            _wrong_guesses_elsewhere(3)  # they lock the account before this one goes on
        return right

    monkeypatch.setattr(User, "check_password", verified_while_others_guess)
    with transaction.atomic():
        outcome = sign_in_with_password("grace@example.com", Secret(RIGHT))

    assert outcome.result is Result.FAILED and outcome.user is None
    stored = User.objects.get(pk=grace.pk)
    assert stored.is_locked() and stored.failed_logins == 3
    refused = Event.objects.filter(action="login", outcome="failure",
                                   detail__reason="account locked while the password "
                                                  "was checked")
    assert refused.count() == 1


def test_admission_answers_for_the_account_as_it_is_now(grace):
    grace.failed_logins = 2
    User.objects.filter(pk=grace.pk).update(failed_logins=2)
    assert lockout.admit(grace) and grace.failed_logins == 0
    assert User.objects.get(pk=grace.pk).failed_logins == 0

    for _ in range(3):
        lockout.register_failure(User.objects.get(pk=grace.pk), LogonPolicy.current()
                                 .lockout_rules())
    assert not lockout.admit(grace)  # this copy still reads unlocked; the row does not
    assert User.objects.get(pk=grace.pk).failed_logins == 3

    User.objects.filter(pk=grace.pk).update(locked_at=None, locked_until=None,
                                             failed_logins=0, is_active=False)
    assert not lockout.admit(grace)
