"""The sign-in's plain prepared reads give what the ORM gives (keystead.plain_reads)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from keystead import plain_reads
from keystead.directory.models import Group, User
from keystead.policy.models import GroupPolicy, LogonPolicy, Strategy
from keystead.policy.services import account_and_policy, effective_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    user = User.objects.create_user("ada@example.com", "Ada", "Lovelace",
                                    password="Vellum-Orchid-Tapestry-42")
    User.objects.filter(pk=user.pk).update(
        failed_logins=2, password_changed_at=timezone.now(), locked_until=timezone.now())
    return user


def test_the_account_is_the_one_the_orm_reads(ada):
    found, _ = account_and_policy("ada@example.com")
    orm = User.objects.get(pk=ada.pk)
    assert type(found) is User
    assert not found._state.adding
    for field in User._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(orm, field.attname), field.name
    assert found.check_password("Vellum-Orchid-Tapestry-42")
    assert account_and_policy("nobody@example.com")[0] is None


def test_the_effective_policy_includes_every_group_policy_of_the_person(ada, monkeypatch):
    site = LogonPolicy.current()
    site.min_length, site.max_failures = 10, 7
    site.save()
    strict = Group.objects.create(name="strict")
    strict.members.add(ada)
    GroupPolicy.objects.create(group=strict, min_length=16, require_second_factor=True)
    others = Group.objects.create(name="others")  # a policy of a group Ada is not in
    GroupPolicy.objects.create(group=others, min_length=40, max_failures=2)
    policy, alone = effective_policy(ada), effective_policy(None)
    assert policy.password.min_length == 16
    assert policy.second_factor is True
    assert alone.password.min_length == 10 and alone.lockout.max_failures == 7
    assert alone.second_factor is False
    # The sign-in's single read of the account and its policy gives the same answers.
    assert account_and_policy("ada@example.com") == (ada, policy)
    assert account_and_policy("nobody@example.com") == (None, alone)
    monkeypatch.setattr(plain_reads, "available", lambda: False)  # the ORM's answer
    assert effective_policy(ada) == policy
    assert effective_policy(None) == alone
    assert account_and_policy("ada@example.com") == (ada, policy)


@pytest.mark.parametrize("read", [effective_policy, lambda user: account_and_policy(
    user.email)[1]], ids=["effective_policy", "account_and_policy"])
def test_the_installation_policy_is_created_on_first_read(ada, read):
    LogonPolicy.objects.all().delete()
    policy = read(ada)
    created = LogonPolicy.objects.get(pk=1)
    assert created.login_strategy == Strategy.PASSWORD  # the secure default, as documented
    assert policy.second_factor is False
    assert policy.password.min_length == created.min_length
