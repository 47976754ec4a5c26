"""keystead events: --since and the other filters, the table, JSON lines, bad input."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Event, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(admin_user):
    """Three events: an old failed login, a recent login, a recent password change."""
    old = audit.record("login", actor_label="anonymous", outcome="failure",
                       detail={"username": "ada@example.com"})
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    audit.record("login", actor=admin_user, target=admin_user)
    audit.record("user.password.set", actor=admin_user, target=admin_user,
                 detail={"door": "cli"})
    return admin_user


def lines(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_since_filters_by_age(cli, history):
    recent = lines(cli("events", "--since", "1h", "--json"))
    assert [e["action"] for e in recent] == ["user.password.set", "login"]
    everything = lines(cli("events", "--since", "4h", "--json"))
    assert len(everything) == 3
    assert everything[-1]["outcome"] == "failure"


def test_since_accepts_an_iso_date(cli, history):
    today = timezone.now().date().isoformat()
    assert len(lines(cli("events", "--since", "2000-01-01", "--json"))) == 3
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert lines(cli("events", "--since", tomorrow, "--json")) == []
    assert len(lines(cli("events", "--since", today, "--json"))) >= 2


def test_json_lines_carry_every_field(cli, history):
    first = lines(cli("events", "--json", "--limit", "1"))
    assert len(first) == 1
    event = first[0]
    assert event["action"] == "user.password.set"
    assert event["actor"] == "root@example.com"
    assert event["target"] == {"type": "user", "id": str(history.pk),
                               "label": "root@example.com"}
    assert event["detail"] == {"door": "cli"}
    assert event["time"].endswith("+00:00")


def test_action_actor_and_outcome_filters(cli, history):
    assert len(lines(cli("events", "--action", "login", "--json"))) == 2
    assert [e["action"] for e in lines(cli("events", "--action", "user.*", "--json"))] == [
        "user.password.set"]
    assert len(lines(cli("events", "--actor", "ROOT@example.com", "--json"))) == 2
    assert len(lines(cli("events", "--actor", "anonymous", "--json"))) == 1
    failed = lines(cli("events", "--outcome", "failure", "--json"))
    assert [e["action"] for e in failed] == ["login"]


def test_table_output(cli, history):
    result = cli("events")
    assert result.exit_code == 0, result.output
    assert "user.password.set" in result.stdout
    assert "failure" in result.stdout
    assert "root@example.com" in result.stdout


def test_table_prints_labels_literally(cli, db):
    audit.record("group.create", actor_label="[bold]mallory[/bold]")
    result = cli("events")
    assert "[bold]mallory[/bold]" in result.stdout


def test_nothing_matches(cli, db):
    result = cli("events", "--action", "nothing.here")
    assert result.exit_code == 0
    assert "No events match" in result.output


@pytest.mark.parametrize("since", ["yesterday", "1.5h", "-2d", "2025-02-30"])
def test_bad_since_explains_the_accepted_forms(cli, db, since):
    result = cli("events", "--since", since)
    assert result.exit_code == 2
    assert "--since" in result.output
    assert "30m" in result.output and "2025-05-01" in result.output
    assert "Traceback" not in result.output


def _from(address: str):
    from django.test import RequestFactory

    return RequestFactory().get("/", REMOTE_ADDR=address)


def test_until_person_and_client_filters(cli, history):
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", username="E1234")
    audit.record("user.update", request=_from("10.4.5.6"), actor=history, target=ada)
    audit.record("login", request=_from("2001:db8::7"), actor=ada, target=ada)
    older = lines(cli("events", "--until", "1h", "--json"))
    assert [(e["action"], e["outcome"]) for e in older] == [("login", "failure")]
    about_ada = lines(cli("events", "--person", "e1234", "--json"))
    assert [e["action"] for e in about_ada] == ["login", "user.update"]
    assert [e["action"] for e in lines(cli("events", "--client", "10.0.0.0/8", "--json"))] == [
        "user.update"]
    assert [e["actor"] for e in lines(cli("events", "--client", "2001:db8::/32", "--json"))] == [
        "ada@example.com"]
    assert [e["action"] for e in lines(cli("events", "--action", "user.", "--json"))] == [
        "user.update", "user.password.set"]


@pytest.mark.parametrize(("args", "option", "words"), [
    (("--client", "10.0.0.999"), "--client", "is not an IP address or network"),
    (("--action", "us*er"), "--action", "a * may only end a prefix"),
    (("--until", "later"), "--until", "is not a time"),
    (("--since", "1h", "--until", "2h"), "--until", "is not after since"),
])
def test_bad_filters_name_the_option(cli, db, args, option, words):
    result = cli("events", *args)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_a_password_change_on_first_sign_in_is_shown_in_words(cli, admin_user):
    audit.record("login", actor=admin_user, target=admin_user, outcome="denied",
                 detail={"method": "password", "reason": "password change required"})
    result = cli("events")
    assert result.exit_code == 0, result.output
    # Once as the outcome, once inside the detail column.
    assert result.stdout.count("password change required") == 2
    assert "denied" not in result.stdout
