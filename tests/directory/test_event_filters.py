"""The audit filter's rules: pure checks without a database, then the query on a real one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.event_export import buffered, csv_row, outcome_words, spreadsheet_safe
from keystead.directory.event_filters import (
    EventCriteria,
    EventFilterError,
    action_rule,
    address_in_network,
    client_rule,
    parse_criteria,
)
from keystead.directory.models import Event, Outcome, User

NOW = datetime(2025, 5, 22, 12, 0, tzinfo=UTC)


# --- rules on plain values -------------------------------------------------------------

@pytest.mark.parametrize(("text", "rule"), [
    ("login", ("exact", "login")),
    ("user.", ("prefix", "user.")),
    ("user.*", ("prefix", "user.")),
    ("user.pass*", ("prefix", "user.pass")),
])
def test_action_is_exact_or_a_prefix(text, rule):
    assert action_rule(text) == rule


@pytest.mark.parametrize("text", ["*", "us*er.", "*.create"])
def test_a_star_only_ends_a_prefix(text):
    with pytest.raises(EventFilterError) as caught:
        action_rule(text)
    assert caught.value.field == "action"


def test_client_is_an_address_or_a_network():
    assert str(client_rule("192.0.2.7")) == "192.0.2.7"
    assert str(client_rule("10.1.2.3/8")) == "10.0.0.0/8"  # host bits are forgiven
    assert str(client_rule("2001:DB8::0001")) == "2001:db8::1"
    for bad in ("10.0.0.999", "10.0.0.0/33", "localhost", "192.0.2.7, 10.0.0.1"):
        with pytest.raises(EventFilterError) as caught:
            client_rule(bad)
        assert caught.value.field == "client"
        assert "10.0.0.0/8" in caught.value.message  # says what would work


def test_address_in_network_is_the_sqlite_side_of_the_lookup():
    assert address_in_network("10.9.8.7", "10.0.0.0/8") is True
    assert address_in_network("11.0.0.1", "10.0.0.0/8") is False
    assert address_in_network("2001:db8::5", "10.0.0.0/8") is False
    assert address_in_network("2001:db8::5", "2001:db8::/32") is True
    assert address_in_network(None, "10.0.0.0/8") is None
    assert address_in_network("garbage", "10.0.0.0/8") is False


def test_criteria_are_checked_when_built():
    with pytest.raises(EventFilterError) as caught:
        EventCriteria(outcome="blocked")
    assert caught.value.field == "outcome"
    assert "success, failure, denied" in caught.value.message
    with pytest.raises(EventFilterError) as caught:
        EventCriteria(since=NOW, until=NOW - timedelta(hours=1))
    assert caught.value.field == "until"
    with pytest.raises(EventFilterError) as caught:
        EventCriteria(person="x" * 256)
    assert caught.value.field == "person"
    with pytest.raises(EventFilterError) as caught:
        EventCriteria(actor="a\x00b")
    assert caught.value.field == "actor"
    # A RuleViolation, so the API answers it as a 400 naming the field.
    assert str(caught.value).startswith("actor: ")


def test_criteria_trim_text_and_read_naive_times_as_utc():
    criteria = EventCriteria(person="  ada@example.com ", since=datetime(2025, 5, 1))
    assert criteria.person == "ada@example.com"
    assert criteria.since == datetime(2025, 5, 1, tzinfo=UTC)
    assert criteria.as_params() == {"since": "2025-05-01T00:00:00+00:00",
                                    "person": "ada@example.com"}
    assert EventCriteria().is_empty() and not criteria.is_empty()


def test_parse_criteria_reads_durations_and_dates_and_ignores_other_keys():
    criteria = parse_criteria({"since": "2h", "until": "2025-05-23", "action": "user.*",
                               "outcome": "", "p": "3", "o": "1"}, NOW)
    assert criteria.since == NOW - timedelta(hours=2)
    assert criteria.until == datetime(2025, 5, 23, tzinfo=UTC)
    assert criteria.action == "user.*" and criteria.outcome == ""


@pytest.mark.parametrize("field", ["since", "until"])
def test_parse_criteria_names_a_bad_time_and_the_forms_that_work(field):
    with pytest.raises(EventFilterError) as caught:
        parse_criteria({field: "yesterday"}, NOW)
    assert caught.value.field == field
    assert "30m" in caught.value.message and "2025-05-01" in caught.value.message


def test_a_first_sign_in_that_must_change_its_password_is_not_an_alarm():
    routine = Event(action="login", outcome=Outcome.DENIED,
                    detail={"method": "password", "reason": "password change required"})
    assert outcome_words(routine) == ("password change required", "notice")
    refused = Event(action="login", outcome=Outcome.DENIED, detail={"reason": "account locked"})
    assert outcome_words(refused) == ("Denied", "alert")
    other = Event(action="api.auth", outcome=Outcome.DENIED,
                  detail={"reason": "password change required"})
    assert outcome_words(other) == ("Denied", "alert")
    assert outcome_words(Event(action="login", outcome=Outcome.FAILURE)) == ("Failure", "alert")
    assert outcome_words(Event(action="login")) == ("Success", "ok")


@pytest.mark.parametrize(("text", "cell"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("ada@example.com", "ada@example.com"), ("", ""),
])
def test_spreadsheet_formulas_are_neutralised(text, cell):
    assert spreadsheet_safe(text) == cell


def test_csv_row_neutralises_every_text_cell():
    event = Event(pk=7, created_at=NOW, action="login", outcome="failure",
                  actor_label="=cmd|' /C calc'!A0", target_label="-1", user_agent="@evil",
                  detail={"username": "=1+1"})
    assert csv_row(event) == [
        7, "2025-05-22T12:00:00+00:00", "login", "failure", "'=cmd|' /C calc'!A0", "", "",
        "'-1", "", "'@evil", '{"username": "=1+1"}']


def test_downloads_are_written_in_pieces_not_row_by_row():
    assert list(buffered(["ab", "cd", "e", "fgh", "i"], size=3)) == ["abcd", "efgh", "i"]
    assert list(buffered([], size=3)) == []


# --- the query, on the test database --------------------------------------------------

def _from(address: str):
    return RequestFactory().get("/", REMOTE_ADDR=address)


@pytest.fixture
def log(db):
    """Events by and about Ada (email ada@example.com, user name E1234) and others."""
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", username="E1234")
    bob = User.objects.create_user("bob@example.com", "Bob", "Builder")
    events = {
        "ada_signs_in": audit.record("login", request=_from("10.1.2.3"), actor=ada, target=ada),
        "bob_changes_ada": audit.record("user.update", request=_from("192.0.2.7"), actor=bob,
                                        target=ada),
        "ada_creates_group": audit.record("group.create", request=_from("2001:db8::9"),
                                          actor=ada),
        "someone_fails_as_bob": audit.record("login", request=_from("10.200.0.1"),
                                             actor_label="anonymous", target=bob,
                                             outcome=Outcome.FAILURE),
        "system_job": audit.record("user.disable", actor_label="system", target=bob),
    }
    old = timezone.now() - timedelta(days=3)
    Event.objects.filter(pk=events["system_job"].pk).update(created_at=old)
    return ada, bob, {name: Event.objects.get(pk=e.pk) for name, e in events.items()}


def _names(log_events, criteria: EventCriteria) -> set[str]:
    pks = set(criteria.apply(Event.objects.all()).values_list("pk", flat=True))
    return {name for name, event in log_events.items() if event.pk in pks}


def test_person_is_target_or_actor_by_email_or_user_name(log):
    _, _, events = log
    ada_events = {"ada_signs_in", "bob_changes_ada", "ada_creates_group"}
    assert _names(events, EventCriteria(person="ada@example.com")) == ada_events
    assert _names(events, EventCriteria(person="e1234")) == ada_events
    assert _names(events, EventCriteria(person="ADA@example.com")) == ada_events
    assert _names(events, EventCriteria(person="nobody@example.com")) == set()


def test_a_deleted_persons_events_are_still_found_by_their_labels(log):
    ada, _, events = log
    ada.delete()
    assert _names(events, EventCriteria(person="ada@example.com")) == {
        "ada_signs_in", "bob_changes_ada", "ada_creates_group"}


def test_actor_is_who_acted_by_name_or_label(log):
    _, _, events = log
    assert _names(events, EventCriteria(actor="E1234")) == {"ada_signs_in", "ada_creates_group"}
    assert _names(events, EventCriteria(actor="bob@example.com")) == {"bob_changes_ada"}
    assert _names(events, EventCriteria(actor="system")) == {"system_job"}
    assert _names(events, EventCriteria(actor="Anonymous")) == {"someone_fails_as_bob"}


def test_action_outcome_and_time_range(log):
    _, _, events = log
    assert _names(events, EventCriteria(action="user.*")) == {"bob_changes_ada", "system_job"}
    assert _names(events, EventCriteria(action="user.")) == {"bob_changes_ada", "system_job"}
    assert _names(events, EventCriteria(action="user")) == set()  # exact unless a prefix
    assert _names(events, EventCriteria(outcome="failure")) == {"someone_fails_as_bob"}
    now = timezone.now()
    assert _names(events, EventCriteria(until=now - timedelta(days=1))) == {"system_job"}
    recent = _names(events, EventCriteria(since=now - timedelta(hours=1), until=now))
    assert recent == set(events) - {"system_job"}


def test_client_address_and_networks(log):
    _, _, events = log
    assert _names(events, EventCriteria(client="192.0.2.7")) == {"bob_changes_ada"}
    assert _names(events, EventCriteria(client="10.0.0.0/8")) == {"ada_signs_in",
                                                                  "someone_fails_as_bob"}
    assert _names(events, EventCriteria(client="10.1.0.0/16")) == {"ada_signs_in"}
    assert _names(events, EventCriteria(client="2001:db8::/32")) == {"ada_creates_group"}
    assert _names(events, EventCriteria(client="2001:DB8::9")) == {"ada_creates_group"}
    assert _names(events, EventCriteria(client="0.0.0.0/0")) == {
        "ada_signs_in", "bob_changes_ada", "someone_fails_as_bob"}


def test_criteria_combine(log):
    _, _, events = log
    both = EventCriteria(person="bob@example.com", action="login", client="10.0.0.0/8")
    assert _names(events, both) == {"someone_fails_as_bob"}
