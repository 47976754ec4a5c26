from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from keystead.directory.models import Event, User
from keystead.login.passwords import Result, sign_in_with_password
from keystead.policy.models import LogonPolicy
from keystead.secret import Secret

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]
GOOD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture
def ada():
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=GOOD)


def attempt(password, email="ada@example.com"):
    return sign_in_with_password(email, Secret(password), door="test")


def set_policy(**values):
    LogonPolicy.objects.update_or_create(pk=1, defaults=values)


def test_correct_password_signs_in_and_is_audited(ada):
    result = attempt(GOOD)
    assert result.result is Result.OK and result.user == ada
    assert Event.objects.filter(action="login", outcome="success", target_id=str(ada.pk)).exists()


def test_email_is_case_insensitive(ada):
    assert attempt(GOOD, "ADA@Example.com").result is Result.OK


def test_failures_count_and_lock_at_threshold_then_notify(ada, django_capture_on_commit_callbacks,
                                                          deliver):
    set_policy(max_failures=3, lock_minutes=15)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assert attempt("wrong").result is Result.FAILED
    ada.refresh_from_db()
    assert ada.failed_logins == 3 and ada.is_locked()
    assert Event.objects.filter(action="user.lock", target_id=str(ada.pk)).count() == 1
    assert [m.to for m in deliver()] == [["ada@example.com"]]
    assert "locked" in deliver()[0].subject


def test_locked_account_refuses_the_right_password_with_the_same_answer(ada):
    set_policy(max_failures=1, lock_minutes=0)
    attempt("wrong")
    result = attempt(GOOD)
    assert result.result is Result.FAILED and result.user is None
    reasons = list(Event.objects.filter(action="login", outcome="failure")
                   .values_list("detail__reason", flat=True))
    assert reasons == ["account locked", "wrong password"]


def test_lock_ends_by_itself_after_the_period(ada):
    set_policy(max_failures=2, lock_minutes=15)
    attempt("wrong")
    attempt("wrong")
    User.objects.filter(pk=ada.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert attempt(GOOD).result is Result.OK
    ada.refresh_from_db()
    assert not ada.is_locked() and ada.failed_logins == 0
    assert Event.objects.filter(action="user.unlock", detail__reason="lockout period ended")


def test_success_resets_the_count(ada):
    set_policy(max_failures=3)
    attempt("wrong")
    attempt("wrong")
    attempt(GOOD)
    attempt("wrong")
    ada.refresh_from_db()
    assert ada.failed_logins == 1 and not ada.is_locked()


def test_zero_threshold_never_locks(ada):
    set_policy(max_failures=0)
    for _ in range(20):
        attempt("wrong")
    ada.refresh_from_db()
    assert not ada.is_locked()


def test_unknown_and_disabled_accounts_fail_like_a_wrong_password(ada):
    User.objects.create_user("off@example.com", "Off", "Line", password=GOOD, is_active=False)
    assert attempt(GOOD, "nobody@example.com").result is Result.FAILED
    assert attempt(GOOD, "off@example.com").result is Result.FAILED


def test_tightened_policy_requires_a_change_and_names_the_rules(ada):
    set_policy(min_digits=3, min_symbols=1)
    result = attempt(GOOD)
    assert result.result is Result.MUST_CHANGE
    assert "must contain at least 3 of: number" in result.reasons[0]


def test_expired_password_requires_a_change(ada):
    set_policy(expire_days=30)
    User.objects.filter(pk=ada.pk).update(password_changed_at=timezone.now() - timedelta(days=31))
    assert attempt(GOOD).reasons == ("Your password has expired.",)


def test_warning_before_expiry(ada):
    set_policy(expire_days=30, warn_days=7)
    User.objects.filter(pk=ada.pk).update(password_changed_at=timezone.now() - timedelta(days=25))
    result = attempt(GOOD)
    assert result.result is Result.OK and result.expires_in_days == 4


def test_argon2_hashes_with_other_parameters_are_upgraded_every_time(ada, settings):
    """The hasher remembers whether a hash's parameters need an upgrade; the answer follows
    the parameters in the hash and in the settings."""
    current = User.objects.get(pk=ada.pk).password
    for _ in range(2):  # the second time from what was remembered
        assert attempt(GOOD).result is Result.OK
        assert User.objects.get(pk=ada.pk).password == current  # not rehashed
    settings.ARGON2_TIME_COST = 3
    for _ in range(2):
        assert attempt(GOOD).result is Result.OK
        upgraded = User.objects.get(pk=ada.pk).password
        assert "m=19456,t=3,p=1" in upgraded
    settings.ARGON2_TIME_COST = 2
    assert attempt(GOOD).result is Result.OK
    assert "m=19456,t=2,p=1" in User.objects.get(pk=ada.pk).password


def test_old_hash_is_upgraded_on_sign_in_without_counting_as_a_change(ada):
    changed_at = timezone.now() - timedelta(days=3)
    old = make_password(GOOD, hasher="pbkdf2_sha256")
    User.objects.filter(pk=ada.pk).update(password=old, password_changed_at=changed_at)
    assert attempt(GOOD).result is Result.OK
    ada.refresh_from_db()
    assert ada.password.startswith("argon2$argon2id$") and "m=19456,t=2,p=1" in ada.password
    assert ada.password_changed_at == changed_at


@pytest.mark.parametrize("typed, recorded", [
    ("Ada@Example.com", "ada@example.com"),
    ("Vellum-Orchid-Tapestry-42", "(not a known name, 25 characters)"),
    ("  ", "(not a known name, 0 characters)"),
    ("e12345", "e12345"),
], ids=["email", "password-typed-as-name", "blank", "known-user-name"])
def test_a_refused_sign_in_records_the_name_only_when_it_is_one(typed, recorded):
    """A typed name is recorded when it is an email or some account's user name; anything
    else may be a password typed into the wrong field, so only its length is kept."""
    User.objects.create_user("grace@example.com", "Grace", "Hopper", username="E12345")
    sign_in_with_password(typed, Secret("whatever it was"))
    event = Event.objects.get(action="login", outcome="failure")
    assert event.detail["username"] == recorded
    assert "Vellum" not in str(event.detail)


def test_a_password_is_checked_against_the_rules_again_only_when_they_change(ada):
    """A sign-in remembers which rules the password met; tightened rules are checked."""
    from keystead.policy.services import effective_policy, rules_fingerprint

    assert attempt(GOOD).result is Result.OK
    ada.refresh_from_db()
    assert ada.password_rules_passed == rules_fingerprint(effective_policy(ada).password)
    set_policy(min_length=len(GOOD) + 1)
    assert attempt(GOOD).result is Result.MUST_CHANGE
