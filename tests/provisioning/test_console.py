"""Provisioning pages in the console: systems with write-only secrets, queue actions."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from keystead.directory.models import Event, User
from keystead.provisioning import queue
from keystead.provisioning.models import (
    ArchivedOperation,
    Kind,
    Operation,
    PasswordPolicy,
    State,
    System,
)
from keystead.secret import Secret

pytestmark = pytest.mark.django_db
CANARY = "Canary-console-5a1f0e"


@pytest.fixture
def root(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _system_data(**changes) -> dict:
    data = {"name": "apps-db", "connector": "sql",
            "settings": '{"url": "postgresql+psycopg://app@127.0.0.1/apps", "table": "t", '
                        '"key_column": "login"}',
            "secret": CANARY, "account_name_from": "username", "on_role_removal": "disable",
            "_save": "Save"}
    for inline in ("mapping", "roles", "schema"):  # the System page's inline tables
        data.update({f"{inline}-TOTAL_FORMS": "0", f"{inline}-INITIAL_FORMS": "0"})
    data.update(changes)
    return data


def test_a_system_is_added_with_a_write_only_secret(root: Client) -> None:
    response = root.post(reverse("admin:provisioning_system_add"), _system_data())
    assert response.status_code == 302, response.content[:2000]
    system = System.objects.get(name="apps-db")
    assert system.secrets()["password"].reveal() == CANARY
    assert CANARY not in system.secrets_encrypted
    page = root.get(reverse("admin:provisioning_system_change", args=[system.pk]))
    assert page.status_code == 200 and CANARY not in page.content.decode()
    assert Event.objects.filter(action="provisioning.system.create").exists()

    # Disabling through the form goes through the service: audited.
    response = root.post(reverse("admin:provisioning_system_change", args=[system.pk]),
                         _system_data(secret="", disabled="on"))
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.disabled and system.secrets()["password"].reveal() == CANARY
    assert Event.objects.filter(action="provisioning.system.change",
                                detail__changed={"disabled": True}).exists()


def test_queue_pages_show_states_and_cancel_works(root: Client) -> None:
    system = System.objects.create(name="target", connector="sql", read_only=True)
    op = queue.enqueue(system, "ada", Kind.CREATE, attributes={"cn": "Ada"},
                       password=Secret(CANARY))
    listing = root.get(reverse("admin:provisioning_operation_changelist"))
    text = listing.content.decode()
    assert "not executed: the system is read-only" in text
    detail = root.get(reverse("admin:provisioning_operation_change", args=[op.id])).content
    assert CANARY not in text and CANARY not in detail.decode()
    assert op.password_encrypted.encode() not in detail

    response = root.post(reverse("admin:provisioning_operation_changelist"),
                         {"action": "retry", "_selected_action": [op.id]}, follow=True)
    assert "is read-only; clear that flag" in response.content.decode()
    response = root.post(reverse("admin:provisioning_operation_changelist"),
                         {"action": "cancel", "_selected_action": [op.id]}, follow=True)
    assert "1 operation(s) cancelled." in response.content.decode()
    assert not Operation.objects.exists()
    assert ArchivedOperation.objects.get(operation_id=op.id).state == State.CANCELLED
    archive = root.get(reverse("admin:provisioning_archivedoperation_changelist"))
    assert archive.status_code == 200 and CANARY not in archive.content.decode()


def test_settings_the_connector_cannot_use_are_refused_naming_the_setting(root: Client) -> None:
    response = root.post(reverse("admin:provisioning_system_add"), _system_data(
        settings='{"url": "postgresql+psycopg://app@127.0.0.1/apps", "table": "t"}'))
    assert response.status_code == 200
    assert "SQL setting &#x27;key_column&#x27; is empty" in response.content.decode()
    response = root.post(reverse("admin:provisioning_system_add"),
                         _system_data(settings='["not", "an", "object"]'))
    assert "Give a JSON object" in response.content.decode()
    assert not System.objects.exists()


def test_the_connection_test_names_what_failed(root: Client, ldap_system: System) -> None:
    changelist = reverse("admin:provisioning_system_changelist")
    response = root.post(changelist, {"action": "test_connection",
                                      "_selected_action": [ldap_system.pk]}, follow=True)
    assert f"{ldap_system.name}: connection works." in response.content.decode()
    ldap_system.set_secrets({"bind_password": Secret("wrong-password")})
    ldap_system.save()
    response = root.post(changelist, {"action": "test_connection",
                                      "_selected_action": [ldap_system.pk]}, follow=True)
    assert "LDAP bind failed: Invalid credentials" in response.content.decode()


def test_a_read_only_system_tells_the_admin_what_it_holds_back(root: Client) -> None:
    """The admin is told: the system's page and the list count what the flags hold back."""
    system = System.objects.create(name="held", connector="sql", read_only=True)
    open_system = System.objects.create(name="open", connector="sql")
    for name in ("ada", "grace"):
        queue.enqueue(system, name, Kind.CREATE, attributes={"cn": name})
    page = root.get(reverse("admin:provisioning_system_change", args=[system.pk])).content
    assert ("held is read-only: operations are queued but not executed. 2 operation(s) are "
            "waiting") in page.decode()
    quiet = root.get(reverse("admin:provisioning_system_change", args=[open_system.pk]))
    assert "are waiting in the queue" not in quiet.content.decode()
    listing = root.get(reverse("admin:provisioning_system_changelist")).content.decode()
    assert "column-held_back" in listing and "column-in_exception" in listing
    row = listing[listing.index(">held<"):]
    assert '<td class="field-held_back">2</td>' in row[:row.index("</tr>")]


def test_a_password_policy_deleted_in_the_console_is_audited(root: Client) -> None:
    policy = PasswordPolicy.objects.create(name="legacy-app")
    url = reverse("admin:provisioning_passwordpolicy_delete", args=[policy.pk])
    assert root.post(url, {"post": "yes"}).status_code == 302
    assert not PasswordPolicy.objects.filter(pk=policy.pk).exists()
    event = Event.objects.get(action="provisioning.policy.delete")
    assert event.detail == {"policy": "legacy-app"} and event.actor.is_superuser
    again = PasswordPolicy.objects.create(name="bulk")
    listing = reverse("admin:provisioning_passwordpolicy_changelist")
    assert root.post(listing, {"action": "delete_selected", "_selected_action": [again.pk],
                               "post": "yes"}).status_code == 302
    assert Event.objects.filter(action="provisioning.policy.delete").count() == 2


@pytest.mark.parametrize("typed", [
    '{"url": "postgresql+psycopg://app@127.0.0.1/apps", "table": "t\\u0000", '
    '"key_column": "login"}',
    '{"url": "postgresql+psycopg://app@127.0.0.1/apps", "table": "t\\ud800", '
    '"key_column": "login"}',
    '{"url": "postgresql+psycopg://app@127.0.0.1/apps", "table": "t", "key_column": "login", '
    '"n": NaN}',
    '{"url": "postgresql+psycopg://app@127.0.0.1/apps", "table": "t", "key_column": "login", '
    '"n": 1e999}',
    '{"n": ' + "9" * 5000 + "}",
    "[" * 5000 + "]" * 5000,
])
def test_settings_no_column_can_hold_are_a_form_error(root: Client, typed: str) -> None:
    page = root.post(reverse("admin:provisioning_system_add"), _system_data(settings=typed))
    assert page.status_code == 200
    assert "settings" in page.context["adminform"].form.errors
    assert not System.objects.exists()


def test_settings_no_column_can_hold_are_refused_by_the_service_too() -> None:
    from keystead.directory.authorization import OPERATOR
    from keystead.directory.rules import RuleViolation
    from keystead.provisioning import systems

    for given, words in (({"table": "t\x00"}, "settings.table holds a NUL"),
                         ({"n": float("inf")}, "settings.n is NaN or infinite")):
        with pytest.raises(RuleViolation, match=words):
            systems.create_system(System(name="x", connector="sql", settings=given),
                                  actor=OPERATOR)
    assert not System.objects.exists()
