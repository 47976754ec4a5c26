"""keystead device list / set-owner: the owner through the service the console uses
(``change_device``), audited the same way; bad input names what is wrong."""

from __future__ import annotations

import pytest
from django.utils import timezone
from oauth2_provider.models import get_application_model

from keystead.devices.models import Device
from keystead.directory.models import Event, Outcome, User

pytestmark = pytest.mark.django_db
Application = get_application_model()


def computer(name: str, owner: User | None = None, **extra) -> Device:
    agent = Application.objects.create(
        name=f"Agent {name}", client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_PASSWORD, redirect_uris="",
        algorithm=Application.RS256_ALGORITHM)
    return Device.objects.create(name=name, owner=owner, application=agent,
                                 public_key=f"key {Device.objects.count()} of {name}", **extra)


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", username="ada")


def test_list_shows_owner_and_reported_user_apart(cli, ada):
    computer("lab-pc-1", ada, last_seen=timezone.now())
    computer("lab-pc-2", reported_user="ada")
    listed = cli("device", "list")
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[2].strip(): line for line in listed.stdout.splitlines()
            if "lab-pc" in line}
    assert "ada@example.com" in rows["lab-pc-1"] and "never" not in rows["lab-pc-1"]
    assert "ada@example.com" not in rows["lab-pc-2"] and "│ ada " in rows["lab-pc-2"]
    mine = cli("device", "list", "--owner", "ADA")
    assert "lab-pc-1" in mine.stdout and "lab-pc-2" not in mine.stdout
    assert "No computers match" in cli("device", "list", "--search", "kitchen").output


def test_set_owner_by_id_or_name_is_audited_as_in_the_console(cli, ada):
    first = computer("lab-pc-1", reported_user="someone")
    done = cli("device", "set-owner", str(first.pk), "ada")
    assert done.exit_code == 0, done.output
    assert f"Computer {first.pk} (lab-pc-1) now belongs to ada@example.com." in done.stdout
    first.refresh_from_db()
    assert first.owner == ada and first.reported_user == "someone"
    event = Event.objects.get(action="device.change")
    assert (event.outcome, event.detail, event.actor_label, event.target_id) == (
        Outcome.SUCCESS, {"owner": "ada@example.com"}, "operator (command line)",
        str(first.pk))

    again = cli("device", "set-owner", "lab-pc-1", "ada@example.com")
    assert "already belongs to ada@example.com. Nothing changed." in again.stdout
    cleared = cli("device", "set-owner", "lab-pc-1", "--none")
    assert cleared.exit_code == 0 and "now has no owner" in cleared.stdout
    assert Device.objects.get(pk=first.pk).owner is None
    assert list(Event.objects.filter(action="device.change").order_by("pk")
                .values_list("detail", flat=True)) == [{"owner": "ada@example.com"},
                                                       {"owner": ""}]


@pytest.mark.parametrize(("args", "words"), [
    (("nothing-here", "ada"), "COMPUTER: no computer with id or name 'nothing-here'"),
    (("twin", "ada"), "COMPUTER: several computers are named 'twin'"),
    (("lab-pc-1", "ghost@example.com"), "EMAIL_OR_USERNAME: no user with email or user "
                                        "name 'ghost@example.com'"),
    (("lab-pc-1",), "EMAIL_OR_USERNAME: give the new owner, or --none"),
    (("lab-pc-1", "ada", "--none"), "EMAIL_OR_USERNAME: give the new owner, or --none"),
])
def test_bad_input_names_what_is_wrong_and_changes_nothing(cli, ada, args, words):
    computer("lab-pc-1")
    computer("twin")
    computer("twin")
    refused = cli("device", "set-owner", *args)
    assert refused.exit_code == 2
    assert words in refused.output
    assert not Device.objects.filter(owner__isnull=False).exists()
    assert not Event.objects.filter(action="device.change").exists()
