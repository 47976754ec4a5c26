"""Logon settings and group logon policies in the console: layout, rights, checks, audit."""

from __future__ import annotations

from typing import Any

import pytest

from keystead.directory.models import Event, Group
from keystead.policy.changes import SETTING_FIELDS, settings_of
from keystead.policy.models import GroupPolicy, LogonPolicy

from .helpers import messages_of

pytestmark = pytest.mark.django_db

SETTINGS_URL = "/admin/policy/logonpolicy/1/change/"
GROUPS_URL = "/admin/policy/grouppolicy/"


def form_data(values: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """POST data for a policy form: every setting, booleans as checkboxes."""
    merged = {**values, **overrides}
    data = {name: value for name, value in merged.items()
            if name in SETTING_FIELDS and not isinstance(value, bool)}
    data.update({name: "on" for name, value in merged.items()
                 if isinstance(value, bool) and value})
    data.update({k: v for k, v in merged.items() if k not in SETTING_FIELDS})
    return data


def current() -> dict[str, Any]:
    return settings_of(LogonPolicy.current())


def set_site(**values: Any) -> None:
    """Change the stored installation policy directly, as another administrator would."""
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(**values)


def test_the_list_goes_straight_to_the_one_settings_page(root_client):
    response = root_client.get("/admin/policy/logonpolicy/")
    assert response.status_code == 302
    assert response["Location"] == SETTINGS_URL
    page = root_client.get(SETTINGS_URL).content.decode()
    for heading in ("Password rules", "Re-use and expiry", "Lockout", "Group policies"):
        assert heading in page
    assert "NIST SP 800-63B-4" in page
    assert "0 = until an administrator unlocks" in page
    assert 'name="_addanother"' not in page
    assert "deletelink" not in page
    assert root_client.get("/admin/policy/logonpolicy/add/").status_code == 403
    assert root_client.get("/admin/policy/logonpolicy/1/delete/").status_code == 403


def test_security_administrator_changes_a_setting_and_it_is_audited(client_as):
    client, me = client_as("Security administrator")
    response = client.post(SETTINGS_URL, form_data(current(), max_failures=5, lock_minutes=30,
                                                   _save="Save"), follow=True)
    assert "The logon settings were saved." in messages_of(response)
    policy = LogonPolicy.current()
    assert (policy.max_failures, policy.lock_minutes) == (5, 30)
    event = Event.objects.get(action="policy.update")
    assert event.actor == me
    assert event.target_type == "logonpolicy"
    assert event.detail == {"door": "admin",
                            "changed": {"max_failures": [10, 5], "lock_minutes": [15, 30]}}


def test_saving_without_a_change_records_nothing(root_client):
    root_client.post(SETTINGS_URL, form_data(current(), _save="Save"))
    assert not Event.objects.filter(action="policy.update").exists()


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"max_length": 60}, "max_length", "max_length must be from 64 to 4096"),
    ({"min_length": 100, "max_length": 80}, "max_length",
     "max_length (80) must be at least min_length (100)"),
    ({"expire_days": 30, "warn_days": 30}, "warn_days",
     "warn_days (30) must be less than expire_days (30)"),
    ({"min_length": 6}, "min_length", "NIST SP 800-63B-4 allows 8 only together with a second"),
    ({"max_failures": 500}, "max_failures", "at most 100"),
    ({"min_digits": 40, "min_symbols": 40, "max_length": 64}, "max_length",
     "ask for 80 characters in all"),
])
def test_refused_values_say_how_to_fix_them(root_client, overrides, field, words):
    before = current()
    response = root_client.post(SETTINGS_URL, form_data(before, _save="Save", **overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert any(words in message for message in errors[field]), errors[field]
    assert current() == before
    assert not Event.objects.filter(action="policy.update").exists()


def test_only_the_settings_changed_on_the_page_are_written(root_client):
    """Two administrators editing different settings at once both keep their change."""
    seen = current()
    set_site(max_failures=7)  # someone else, meanwhile
    shown = {f"initial-{name}": ("True" if value else "False") if isinstance(value, bool)
             else value for name, value in seen.items()}
    root_client.post(SETTINGS_URL, form_data(seen, min_length=16, _save="Save", **shown))
    policy = LogonPolicy.current()
    assert (policy.min_length, policy.max_failures) == (16, 7)


def test_departures_from_nist_are_pointed_out_after_saving(root_client):
    response = root_client.post(SETTINGS_URL, form_data(current(), expire_days=90, _save="Save"),
                                follow=True)
    assert any("Periodic expiry" in m for m in messages_of(response))


def test_auditor_sees_the_settings_read_only(client_as):
    client, _ = client_as("Auditor")
    page = client.get(SETTINGS_URL)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(SETTINGS_URL, form_data(current(), min_length=20)).status_code == 403
    assert LogonPolicy.current().min_length == 15
    assert client.get(GROUPS_URL).status_code == 200
    assert client.get(GROUPS_URL + "add/").status_code == 403


def test_change_permission_without_manage_policy_is_only_a_view(make_user):
    from django.contrib.auth.models import Permission
    from django.test import Client

    person = make_user("viewer@example.com", staff=True)
    person.user_permissions.add(Permission.objects.get(codename="change_logonpolicy"))
    client = Client()
    client.force_login(person)
    assert client.get(SETTINGS_URL).status_code == 200
    assert client.post(SETTINGS_URL, form_data(current(), min_length=20)).status_code == 403


def test_helpdesk_cannot_see_the_policy(client_as):
    client, _ = client_as("Helpdesk")
    assert client.get(SETTINGS_URL).status_code == 403
    assert client.get("/admin/policy/logonpolicy/").status_code == 403
    assert client.get(GROUPS_URL).status_code == 403


# -- group policies ---------------------------------------------------------


@pytest.fixture
def admins_group(make_user) -> Group:
    group = Group.objects.create(name="Admins")
    group.members.add(make_user("ada@example.com", "Ada", "Lovelace"))
    return group


def test_a_new_group_policy_starts_from_the_installation_values(root_client, admins_group):
    set_site(max_failures=8)
    page = root_client.get(GROUPS_URL + "add/")
    form = page.context["adminform"].form
    assert form.initial["max_failures"] == 8
    assert "strictest value of the installation policy and the group policies wins" in (
        page.content.decode())


def test_group_policy_create_change_delete_are_audited(client_as, admins_group):
    client, me = client_as("Security administrator")
    response = client.post(GROUPS_URL + "add/", form_data(
        current(), group=admins_group.pk, min_length=20, max_failures=3, _save="Save"),
        follow=True)
    assert response.status_code == 200
    policy = GroupPolicy.objects.get(group=admins_group)
    assert (policy.min_length, policy.max_failures) == (20, 3)
    created = Event.objects.get(action="policy.group.create")
    assert created.actor == me
    assert created.detail["door"] == "admin"
    assert created.detail["group"] == "Admins"
    assert created.detail["settings"]["min_length"] == 20

    url = f"{GROUPS_URL}{policy.pk}/change/"
    client.post(url, form_data(settings_of(policy), min_length=24, _save="Save"))
    updated = Event.objects.get(action="policy.group.update")
    assert updated.detail == {"door": "admin", "group": "Admins",
                              "changed": {"min_length": [20, 24]}}

    client.post(f"{GROUPS_URL}{policy.pk}/delete/", {"post": "yes"})
    assert not GroupPolicy.objects.exists()
    deleted = Event.objects.get(action="policy.group.delete")
    assert deleted.detail["settings"]["min_length"] == 24


def test_group_policy_form_has_the_same_checks(root_client, admins_group):
    response = root_client.post(GROUPS_URL + "add/", form_data(
        current(), group=admins_group.pk, expire_days=10, warn_days=14, _save="Save"))
    assert "warn_days" in response.context["adminform"].form.errors
    assert not GroupPolicy.objects.exists()


def test_group_page_shows_that_the_strictest_value_wins(root_client, admins_group):
    set_site(min_length=16, max_failures=10)
    policy = GroupPolicy.objects.create(group=admins_group, **{
        **current(), "min_length": 12, "max_failures": 3})
    page = root_client.get(f"{GROUPS_URL}{policy.pk}/change/").content.decode()
    assert "What members get" in page
    assert "looser: no effect" in page  # min_length 12 < 16
    table = page[page.index("ks-policy-table"):]
    row = table[table.index("Maximum consecutive failed sign-ins"):].split("</tr>")[0]
    assert "<td>10</td><td>3</td><td>3</td><td>this group</td>" in row
    listing = root_client.get(GROUPS_URL).content.decode()
    assert "Admins" in listing and "after 3 failures, 15 min" in listing


def test_user_page_shows_the_effective_policy_and_where_it_comes_from(root_client,
                                                                      admins_group):
    GroupPolicy.objects.create(group=admins_group, **{**current(), "min_length": 20})
    ada = admins_group.members.get()
    page = root_client.get(f"/admin/directory/user/{ada.pk}/change/").content.decode()
    assert "Effective logon policy" in page
    row = page[page.index("<td>Minimum password length</td>"):].split("</tr>")[0]
    assert "<td>20</td><td>group Admins</td>" in row


def test_settings_page_links_the_group_policies(root_client, admins_group):
    policy = GroupPolicy.objects.create(group=admins_group, **current())
    page = root_client.get(SETTINGS_URL).content.decode()
    assert f'href="{GROUPS_URL}{policy.pk}/change/"' in page
