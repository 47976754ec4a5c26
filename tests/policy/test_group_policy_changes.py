"""keystead.policy.changes: the checks and audit every door (console, API, CLI) shares."""

from __future__ import annotations

import pytest

from keystead.directory.authorization import OPERATOR, Actor, NotAllowed
from keystead.directory.models import Event, Group, Outcome, User
from keystead.directory.rules import RuleViolation
from keystead.policy import changes
from keystead.policy.models import GroupPolicy, LogonPolicy
from keystead.policy.services import effective_policy

DEFAULTS = changes.settings_of(LogonPolicy())  # unsaved: the model's defaults


def fields(problems):
    return [p.field for p in problems]


def test_the_defaults_pass_and_need_no_advice():
    assert changes.setting_problems(DEFAULTS) == []
    assert changes.setting_advice(DEFAULTS) == []


def test_ranges_come_from_the_model():
    assert changes.setting_range("max_length") == (64, 4096)
    assert changes.setting_range("reuse_blocked") == (-1, 100)
    assert changes.accepted_range("min_length") == (8, 128)
    assert changes.accepted_range("max_failures") == (0, 100)
    assert changes.setting_range("lock_minutes") == (0, 32767)  # what the column holds


def test_every_problem_is_listed_and_relations_wait_for_valid_values():
    problems = changes.setting_problems({**DEFAULTS, "max_length": 10, "min_length": 500,
                                         "screen_common": "yes", "colour": 1})
    assert sorted(fields(problems)) == ["colour", "max_length", "min_length", "screen_common"]
    assert all("max_length (" not in p.message for p in problems)  # no relation messages yet


def test_missing_settings_are_named():
    values = dict(DEFAULTS)
    del values["warn_days"]
    assert fields(changes.setting_problems(values)) == ["warn_days"]


@pytest.mark.parametrize(("values", "field", "code"), [
    ({"min_length": 80, "max_length": 64}, "max_length", "max_below_min"),
    ({"min_symbols": 40, "min_digits": 40, "max_length": 64}, "max_length",
     "composition_too_long"),
    ({"expire_days": 30, "warn_days": 45}, "warn_days", "warn_after_expiry"),
    ({"min_length": 7}, "min_length", "nist_min_length"),
    ({"max_failures": 101}, "max_failures", "nist_max_failures"),
])
def test_rules_between_settings(values, field, code):
    problems = changes.setting_problems({**DEFAULTS, **values})
    assert [(p.field, p.code) for p in problems] == [(field, code)]


def test_warn_days_do_not_matter_when_passwords_never_expire():
    assert changes.setting_problems({**DEFAULTS, "expire_days": 0, "warn_days": 300}) == []


def test_advice_names_each_departure_from_nist():
    advice = changes.setting_advice({**DEFAULTS, "min_length": 8, "min_digits": 1,
                                     "expire_days": 90, "screen_common": False,
                                     "max_failures": 0})
    assert len(advice) == 5


def test_changed_settings_lists_old_and_new():
    after = {**DEFAULTS, "min_length": 16}
    assert changes.changed_settings(DEFAULTS, after) == {"min_length": [15, 16]}


@pytest.mark.django_db
def test_update_changes_what_is_given_and_records_old_and_new():
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(max_failures=7)  # set by someone else
    policy, changed = changes.update_installation_policy({"min_length": 16},
                                                         actor=OPERATOR, door="test")
    assert (policy.min_length, policy.max_failures) == (16, 7)
    assert changed == {"min_length": [15, 16]}
    assert Event.objects.get(action="policy.update").detail == {
        "door": "test", "changed": {"min_length": [15, 16]}}


@pytest.mark.django_db
def test_a_refused_update_writes_nothing():
    with pytest.raises(RuleViolation) as refused:
        changes.update_installation_policy({"min_length": 16, "max_length": 12}, actor=OPERATOR)
    assert fields(refused.value.problems) == ["max_length"]
    assert LogonPolicy.current().min_length == 15
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_group_policy_starts_from_the_installation_and_strictest_wins():
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(min_length=16, max_failures=10, lock_minutes=15)
    admins = Group.objects.create(name="Admins")
    ops = Group.objects.create(name="Ops")
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    admins.members.add(ada)
    ops.members.add(ada)

    policy, created, _ = changes.save_group_policy(admins, {"min_length": 20},
                                                   actor=OPERATOR, door="test")
    assert created and (policy.min_length, policy.max_failures) == (20, 10)
    changes.save_group_policy(ops, {"min_length": 12, "max_failures": 3, "lock_minutes": 0},
                              actor=OPERATOR)

    effective = changes.effective_settings(effective_policy(ada))
    assert effective["min_length"] == 20  # Admins, stricter than 16 and 12
    assert effective["max_failures"] == 3  # Ops
    assert effective["lock_minutes"] == 0  # until unlocked is the strictest period
    assert changes.combined(LogonPolicy.current(), GroupPolicy.objects.get(group=ops))[
        "min_length"] == 16

    _, created, changed = changes.save_group_policy(admins, {"min_length": 24}, actor=OPERATOR)
    assert not created and changed == {"min_length": [20, 24]}
    assert [e.action for e in Event.objects.order_by("id")] == [
        "policy.group.create", "policy.group.create", "policy.group.update"]


@pytest.mark.django_db
def test_deleting_a_group_policy_records_what_it_said():
    group = Group.objects.create(name="Admins")
    policy, _, _ = changes.save_group_policy(group, {"min_length": 20}, actor=OPERATOR)
    changes.delete_group_policy(policy, actor=OPERATOR, door="test")
    assert not GroupPolicy.objects.exists()
    event = Event.objects.get(action="policy.group.delete")
    assert event.detail["group"] == "Admins" and event.detail["settings"]["min_length"] == 20


def test_describe_value():
    assert changes.describe_value("reuse_blocked", -1) == "all previous"
    assert changes.describe_value("reuse_blocked", 5) == "last 5"
    assert changes.describe_value("lock_minutes", 0) == "0 (until unlocked)"
    assert changes.describe_value("screen_common", True) == "yes"


def test_min_strength_is_checked_like_every_number_setting():
    assert DEFAULTS["min_strength"] == 3
    assert changes.setting_range("min_strength") == (0, 4)
    problems = changes.setting_problems({**DEFAULTS, "min_strength": 5})
    assert [(p.field, p.code) for p in problems] == [("min_strength", "range")]
    assert problems[0].message.startswith("min_strength must be from 0 to 4 (zxcvbn's scores")
    bad_type = changes.setting_problems({**DEFAULTS, "min_strength": "3"})
    assert [(p.field, p.code) for p in bad_type] == [("min_strength", "invalid")]
    advice = changes.setting_advice({**DEFAULTS, "min_strength": 2})
    assert len(advice) == 1 and "passwordpassword" in advice[0]
    assert changes.describe_value("min_strength", 0) == "0 (no rule)"
    assert changes.LABELS["min_strength"].startswith("Minimum strength score")


@pytest.mark.django_db
def test_min_strength_folds_to_the_higher_score_and_is_audited():
    admins = Group.objects.create(name="Admins")
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    admins.members.add(ada)
    _, changed = changes.update_installation_policy({"min_strength": 2},
                                                    actor=OPERATOR, door="test")
    assert changed == {"min_strength": [3, 2]}
    changes.save_group_policy(admins, {"min_strength": 4}, actor=OPERATOR, door="test")
    assert effective_policy(ada).password.min_strength == 4
    assert effective_policy(None).password.min_strength == 2
    changes.save_group_policy(admins, {"min_strength": 1}, actor=OPERATOR, door="test")
    assert effective_policy(ada).password.min_strength == 2  # a group only tightens


@pytest.mark.django_db
def test_the_policy_services_refuse_whoever_may_not_manage_the_policy():
    """The policy models' own permissions only show the pages: every door's change is
    refused without directory.manage_policy, nothing changes, and each refusal is audited."""
    pages_only = Actor(label="pages only", permissions=frozenset({
        "policy.change_logonpolicy", "policy.add_grouppolicy", "policy.change_grouppolicy",
        "policy.delete_grouppolicy"}))
    with pytest.raises(NotAllowed, match=r"directory\.manage_policy"):
        changes.update_installation_policy({"max_failures": 3}, actor=pages_only)
    admins = Group.objects.create(name="Admins")
    with pytest.raises(NotAllowed, match=r"directory\.manage_policy"):
        changes.save_group_policy(admins, {"min_length": 20}, actor=pages_only)
    policy, _, _ = changes.save_group_policy(admins, {"min_length": 20}, actor=OPERATOR)
    with pytest.raises(NotAllowed, match=r"directory\.manage_policy"):
        changes.save_group_policy(admins, {"min_length": 24}, actor=pages_only)
    with pytest.raises(NotAllowed, match=r"directory\.manage_policy"):
        changes.delete_group_policy(policy, actor=pages_only)
    policy.refresh_from_db()
    assert policy.min_length == 20 and LogonPolicy.current().max_failures == 10
    assert sorted(Event.objects.filter(outcome=Outcome.DENIED).values_list(
        "action", flat=True)) == ["policy.group.create", "policy.group.delete",
                                  "policy.group.update", "policy.update"]
