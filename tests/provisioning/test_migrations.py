"""Data migrations of provisioning, run on rows as an upgrading installation has them."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps
from django.utils import timezone

from keystead.provisioning.models import (
    AccountState,
    ArchivedOperation,
    ConnectorType,
    Kind,
    State,
    System,
    SystemAccount,
)

pytestmark = pytest.mark.django_db

account_state_disabled = import_module(
    "keystead.provisioning.migrations.0005_account_state_disabled")


@pytest.mark.smoke  # also on SQLite: the fill reads a JSON key
def test_an_account_whose_last_archived_word_was_a_disable_becomes_disabled() -> None:
    """The fill answers as the archive did before the state kept it: the newest executed
    operation under the account's name that says something about its existence."""
    system = System.objects.create(name="target", connector=ConnectorType.SQL)
    other = System.objects.create(name="other", connector=ConnectorType.SQL)
    archived: list[tuple[System, str, str, dict, str]] = [
        (system, "left", Kind.CREATE, {}, State.EXECUTED),
        (system, "left", Kind.UPDATE, {"__ENABLE__": False}, State.EXECUTED),
        (system, "left", Kind.UPDATE, {"mail": "left@example.test"}, State.EXECUTED),
        (system, "back", Kind.CREATE, {}, State.EXECUTED),
        (system, "back", Kind.UPDATE, {"__ENABLE__": False}, State.EXECUTED),
        (system, "back", Kind.UPDATE, {"__ENABLE__": True}, State.EXECUTED),
        (system, "not back", Kind.UPDATE, {"__ENABLE__": False}, State.EXECUTED),
        (system, "not back", Kind.UPDATE, {"__ENABLE__": True}, State.CANCELLED),
        (system, "born off", Kind.CREATE, {"__ENABLE__": False}, State.EXECUTED),
        (system, "renamed", Kind.UPDATE,
         {"__NAME__": "renamed", "__RENAMED_FROM__": "old", "__ENABLE__": False},
         State.EXECUTED),
        (system, "planned", Kind.UPDATE, {"__ENABLE__": False}, State.EXECUTED),
        (other, "left", Kind.CREATE, {}, State.EXECUTED),
    ]
    now = timezone.now()
    ArchivedOperation.objects.bulk_create(
        ArchivedOperation(operation_id=number, system=target, account_name=name, kind=kind,
                          attributes=attributes, state=state, created_at=now, ended_at=now)
        for number, (target, name, kind, attributes, state) in enumerate(archived, start=1))
    accounts = {(target.name, name): SystemAccount.objects.create(
                    system=target, name=name, state=AccountState.PRESENT)
                for target, name in [(system, "left"), (system, "back"), (system, "not back"),
                                     (system, "born off"), (system, "renamed"),
                                     (system, "no history"), (other, "left")]}
    accounts["target", "planned"] = SystemAccount.objects.create(
        system=system, name="planned", state=AccountState.PLANNED)

    account_state_disabled.fill_disabled(apps, None)

    assert {key: SystemAccount.objects.get(pk=account.pk).state
            for key, account in accounts.items()} == {
        ("target", "left"): "disabled", ("target", "back"): "present",
        ("target", "not back"): "disabled", ("target", "born off"): "disabled",
        ("target", "renamed"): "disabled", ("target", "no history"): "present",
        ("other", "left"): "present", ("target", "planned"): "planned"}
