from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keystead.directory.models import User
from keystead.policy.lockout import ExpiryRules, LockoutRules, is_locked, locked_filter

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_lock_at_threshold_and_never_with_zero():
    assert not LockoutRules(max_failures=3).should_lock(2)
    assert LockoutRules(max_failures=3).should_lock(3)
    assert not LockoutRules(max_failures=0).should_lock(10_000)


def test_lock_period_or_until_unlocked():
    assert LockoutRules(lock_minutes=15).locked_until(NOW) == NOW + timedelta(minutes=15)
    assert LockoutRules(lock_minutes=0).locked_until(NOW) is None


def test_is_locked_respects_the_end_of_the_period():
    assert is_locked(NOW, None, NOW + timedelta(days=999))
    assert is_locked(NOW, NOW + timedelta(minutes=1), NOW)
    assert not is_locked(NOW, NOW, NOW)
    assert not is_locked(None, None, NOW)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(locked_at=st.sampled_from([None, NOW - timedelta(hours=1)]),
       locked_until=st.sampled_from([None, NOW - timedelta(minutes=1), NOW,
                                     NOW + timedelta(minutes=1)]))
def test_the_query_form_agrees_with_the_rule(locked_at, locked_until):
    """``locked_filter`` selects exactly the rows ``is_locked`` calls locked."""
    User.objects.all().delete()
    person = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    User.objects.filter(pk=person.pk).update(locked_at=locked_at, locked_until=locked_until)
    selected = User.objects.filter(locked_filter(NOW)).exists()
    assert selected == is_locked(locked_at, locked_until, NOW)


def test_strictest_lockout_prefers_lower_threshold_and_longer_or_manual_unlock():
    merged = LockoutRules(10, 15).strictest(LockoutRules(5, 60))
    assert merged == LockoutRules(5, 60)
    assert LockoutRules(0, 15).strictest(LockoutRules(7, 0)) == LockoutRules(7, 0)
    assert LockoutRules(0, 15).strictest(LockoutRules(0, 30)).max_failures == 0


def test_expiry_and_warning_window():
    rules = ExpiryRules(expire_days=30, warn_days=7)
    changed = NOW - timedelta(days=25)
    assert not rules.is_expired(changed, NOW)
    assert rules.days_left_to_warn(changed, NOW) == 5
    assert rules.days_left_to_warn(NOW - timedelta(days=1), NOW) is None
    assert rules.is_expired(NOW - timedelta(days=30), NOW)
    assert not ExpiryRules(expire_days=0).is_expired(NOW - timedelta(days=9999), NOW)


def test_strictest_expiry_is_the_shortest_period_that_is_on():
    assert ExpiryRules(0, 14).strictest(ExpiryRules(90, 7)) == ExpiryRules(90, 14)
    assert ExpiryRules(30, 14).strictest(ExpiryRules(90, 7)).expire_days == 30
