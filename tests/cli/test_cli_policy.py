"""keystead policy show / set / remove-group / build-filter (a hidden alias of
``keystead password-filter build``), and the operator's filter."""

from __future__ import annotations

import json

import pytest

from keystead.directory.models import Event, Group, User
from keystead.policy import screening
from keystead.policy.models import GroupPolicy, LogonPolicy
from keystead.policy.services import password_problems
from keystead.secret import Secret

pytestmark = pytest.mark.django_db


def test_show_lists_every_setting_for_the_installation_and_each_group(cli):
    group = Group.objects.create(name="Admins")
    GroupPolicy.objects.create(group=group, min_length=20)
    result = cli("policy", "show")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "Setting" in line)
    assert "Installation" in header and "Group Admins" in header
    row = next(line for line in lines if "min_length" in line)
    assert "15" in row and "20" in row
    assert any("lock_minutes" in line and "15" in line for line in lines)
    assert "strictest value" in result.stdout

    data = json.loads(cli("policy", "show", "--json").stdout)
    assert data["installation"]["max_failures"] == 10
    assert data["groups"]["Admins"]["min_length"] == 20


def test_show_lists_every_setting_that_set_takes(cli):
    group = Group.objects.create(name="Admins")
    assert cli("policy", "set", "--group", "Admins", "require_second_factor=yes").exit_code == 0
    assert cli("policy", "set", "remember_days=7").exit_code == 0
    lines = cli("policy", "show").stdout.splitlines()

    def row(name: str) -> list[str]:
        line = next(line for line in lines if f" {name} " in line)
        return [cell.strip() for cell in line.strip(" │|").split("│")]

    from keystead.policy.changes import GROUP_FIELDS, INSTALLATION_FIELDS
    for name in {*INSTALLATION_FIELDS, *GROUP_FIELDS}:
        assert row(name)[0] == name
    assert row("remember_days")[1:] == ["7", "—"]  # the installation's alone
    assert row("login_strategy")[1:] == ["Password", "—"]
    assert row("require_second_factor")[1:] == ["—", "yes"]  # a group's alone
    assert row("strong_factors_only")[1:] == ["—", "no"]
    data = json.loads(cli("policy", "show", "--json").stdout)
    assert data["installation"]["remember_days"] == 7
    assert "require_second_factor" not in data["installation"]
    assert data["groups"][group.name]["require_second_factor"] is True
    assert "login_strategy" not in data["groups"][group.name]


def test_set_changes_the_installation_policy_and_is_audited(cli):
    result = cli("policy", "set", "max_failures=5", "lock-minutes=30", "reuse_blocked=all")
    assert result.exit_code == 0, result.output
    assert "max_failures 10 -> 5" in result.stdout
    policy = LogonPolicy.current()
    assert (policy.max_failures, policy.lock_minutes, policy.reuse_blocked) == (5, 30, -1)
    event = Event.objects.get(action="policy.update")
    assert event.detail == {"door": "cli", "changed": {
        "max_failures": [10, 5], "lock_minutes": [15, 30], "reuse_blocked": [0, -1]}}
    again = cli("policy", "set", "max_failures=5")
    assert "Nothing to change" in again.stdout


def test_min_strength_is_shown_and_set_like_the_other_numbers(cli):
    row = next(line for line in cli("policy", "show").stdout.splitlines()
               if "min_strength" in line)
    assert "3" in row
    result = cli("policy", "set", "min_strength=4")
    assert result.exit_code == 0, result.output
    assert "min_strength 3 -> 4" in result.stdout
    assert LogonPolicy.current().min_strength == 4
    too_high = cli("policy", "set", "min_strength=5")
    assert too_high.exit_code == 2
    assert "min_strength: min_strength must be from 0 to 4" in too_high.output
    lowered = cli("policy", "set", "min_strength=1")
    assert "Note: A minimum strength score below 3" in lowered.stdout


def test_set_refuses_bad_values_naming_each_and_changes_nothing(cli):
    result = cli("policy", "set", "max_length=40", "warn_days=900")
    assert result.exit_code == 2
    assert "max_length: max_length must be from 64 to 4096" in result.output
    assert "warn_days: warn_days must be from 0 to 365" in result.output
    assert LogonPolicy.current().max_length == 128
    assert not Event.objects.filter(action="policy.update").exists()

    related = cli("policy", "set", "expire_days=30", "warn_days=30")
    assert related.exit_code == 2
    assert "warn_days (30) must be less than expire_days (30)" in related.output


@pytest.mark.parametrize(("args", "words"), [
    (("colour=blue",), "'colour' is not a setting"),
    (("min_length",), "write KEY=VALUE"),
    (("min_length=many",), "'many' is not a whole number"),
    (("screen_common=maybe",), "is not true or false"),
])
def test_set_explains_malformed_input(cli, args, words):
    result = cli("policy", "set", *args)
    assert result.exit_code == 2
    assert words in result.output


def test_set_advises_on_departures_from_nist(cli):
    result = cli("policy", "set", "expire_days=90")
    assert result.exit_code == 0
    assert "Note: Periodic expiry" in result.stdout


def test_group_policy_from_the_command_line(cli):
    Group.objects.create(name="Admins")
    created = cli("policy", "set", "--group", "admins", "min_length=20")
    assert created.exit_code == 0, created.output
    assert "Created the policy of group Admins" in created.stdout
    assert GroupPolicy.objects.get().min_length == 20
    assert Event.objects.get(action="policy.group.create").detail["door"] == "cli"

    unknown = cli("policy", "set", "--group", "Nobody", "min_length=20")
    assert unknown.exit_code == 2
    assert "no group named 'Nobody'; groups: Admins." in unknown.output

    removed = cli("policy", "remove-group", "Admins")
    assert removed.exit_code == 0
    assert not GroupPolicy.objects.exists()
    assert Event.objects.filter(action="policy.group.delete").count() == 1
    assert cli("policy", "remove-group", "Admins").exit_code == 2


# -- build-filter (old name) and KEYSTEAD_PASSWORD_FILTER ----------------------


def test_build_filter_writes_a_filter_checked_in_addition_to_the_builtin_list(
        cli, tmp_path, settings):
    source = tmp_path / "breached.txt"
    source.write_bytes("Zephyr-Quill-Orchard-88\r\nglacier-MOTH-lantern-51\n\n"
                       "caf\u00e9-ocean-sparrow-1234\n".encode() + b"\xff\xfe bad line\n")
    out = tmp_path / "filters" / "breached.ksbf"
    result = cli("policy", "build-filter", "--from", str(source), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "3 passwords" in result.stdout
    assert "Left out 1 lines that are not UTF-8 (first: line 5)" in result.stdout
    assert f"KEYSTEAD_PASSWORD_FILTER={out}" in result.stdout

    extra = screening.BloomFilter.load(out.read_bytes())
    assert "glacier-moth-lantern-51" in extra
    settings.PASSWORD_FILTER_FILE = str(out)
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")

    def codes(password: str) -> list[str]:
        return [f.code for f in password_problems(Secret(password), user=ada)]

    assert "common" in codes("Zephyr-Quill-Orchard-88")  # the operator's list
    assert "common" in codes("GLACIER-moth-lantern-51")  # compared case-insensitively
    assert "common" in codes("1q2w3e4r5t6y7u8i9o0p")  # the built-in list still applies
    assert codes("Unlisted-Heron-Basalt-19") == []


def test_a_missing_or_damaged_filter_falls_back_to_the_builtin_list(tmp_path, caplog):
    damaged = tmp_path / "damaged.ksbf"
    damaged.write_bytes(b"KSBF" + b"\x00" * 20)
    assert screening.is_common("password", str(damaged))
    assert not screening.is_common("Unlisted-Heron-Basalt-19", str(damaged))
    assert not screening.is_common("Unlisted-Heron-Basalt-19", str(tmp_path / "missing"))
    assert "KEYSTEAD_PASSWORD_FILTER" in caplog.text


def test_build_filter_refuses_an_empty_list(cli, tmp_path):
    source = tmp_path / "empty.txt"
    source.write_text("\n  \n")
    result = cli("policy", "build-filter", "--from", str(source),
                 "--out", str(tmp_path / "f.ksbf"))
    assert result.exit_code == 2
    assert "no passwords or SHA-1 hashes found" in result.output


def test_check_reports_a_broken_filter(cli, settings, tmp_path):
    settings.PASSWORD_FILTER_FILE = str(tmp_path / "missing.ksbf")
    result = cli("check")
    assert "FAIL  password screening: KEYSTEAD_PASSWORD_FILTER=" in result.stdout
    assert "keystead password-filter build" in result.stdout
