"""One-time use of assertion ids holds across concurrent database connections."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from keystead.sources.saml import replay
from keystead.sources.saml.models import UsedAssertion


@pytest.mark.django_db(transaction=True)
def test_of_simultaneous_uses_exactly_one_wins():
    expires = timezone.now() + datetime.timedelta(minutes=5)
    start = threading.Barrier(4)
    results: list[bool] = []

    def use() -> None:
        try:
            start.wait()
            results.append(replay.use_once("_assertion-42", "https://idp", expires))
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert UsedAssertion.objects.count() == 1


@pytest.mark.django_db
def test_expired_ids_are_pruned():
    past = timezone.now() - datetime.timedelta(minutes=1)
    UsedAssertion.objects.create(assertion_id="_old", expires_at=past)
    assert replay.use_once("_new", "https://idp", timezone.now() + datetime.timedelta(minutes=5))
    assert list(UsedAssertion.objects.values_list("assertion_id", flat=True)) == ["_new"]
