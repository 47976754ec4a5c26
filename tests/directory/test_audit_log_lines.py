"""The audit log line follows the audit row: written on commit, never for a rollback."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from keystead.directory import audit

pytestmark = pytest.mark.django_db(transaction=True)


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "keystead.audit"]


def test_a_committed_event_is_logged_and_a_rolled_back_one_is_not(caplog):
    caplog.set_level(logging.INFO, logger="keystead.audit")
    audit.record("test.outside", actor_label="system")
    assert lines(caplog) == ["test.outside success actor=system target=:"]
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record("test.undone", actor_label="system")
        raise RuntimeError("rolled back")
    with transaction.atomic():
        audit.record("test.kept", actor_label="system")
        assert "test.kept" not in " ".join(lines(caplog))  # not before the commit
    assert [line.split()[0] for line in lines(caplog)] == ["test.outside", "test.kept"]
