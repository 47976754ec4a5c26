"""The console's pages with a directory of any size: the number of SQL statements a page
issues, and what it puts on the page, do not grow with the rows in the tables or with a
group's members.

Each check renders a page over a small directory and again over a larger one and compares
statement counts (``CaptureQueriesContext``), never timings.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from keystead.api.models import ApiToken
from keystead.devices.models import Device, EnrollmentToken
from keystead.directory.models import Event, Group, Role, User
from keystead.login.models import OutgoingMail
from keystead.policy.models import GroupPolicy
from keystead.providers.oidc.models import ClientSettings
from keystead.providers.saml import keys
from keystead.providers.saml.models import SigningKey
from keystead.provisioning.models import (
    ArchivedOperation,
    Operation,
    PasswordPolicy,
    System,
    SystemAccount,
)

pytestmark = pytest.mark.django_db
AccessToken = get_access_token_model()
Application = get_application_model()
SMALL, LARGE = 5, 50
PEOPLE_SHOWN = 50  # keystead.directory.admin.PEOPLE_SHOWN: how many a group's page names


def people(count: int, start: int = 0) -> list[User]:
    return User.objects.bulk_create([
        User(email=f"p{i:04d}@example.com", username=f"p{i:04d}", given_name="Given",
             family_name=f"Family {i}", password="!") for i in range(start, start + count)])


def fill(count: int) -> None:
    """``count`` rows in every table a console list shows, each row tied to people,
    groups, systems or applications, as in a directory in use."""
    now = timezone.now()
    start = User.objects.count()
    members = people(count, start)
    groups = Group.objects.bulk_create(
        [Group(name=f"group {start + i}") for i in range(count)])
    Group.members.through.objects.bulk_create([
        Group.members.through(group_id=group.pk, user_id=person.pk)
        for group, person in zip(groups, members, strict=True)])
    roles = Role.objects.bulk_create([Role(name=f"role {start + i}") for i in range(count)])
    Role.users.through.objects.bulk_create([
        Role.users.through(role_id=role.pk, user_id=person.pk)
        for role, person in zip(roles, members, strict=True)])
    GroupPolicy.objects.bulk_create([GroupPolicy(group=group) for group in groups])
    apps = Application.objects.bulk_create([
        Application(name=f"app {start + i}", client_id=f"client-{start + i}",
                    client_type=Application.CLIENT_PUBLIC,
                    authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
                    redirect_uris="https://app.example.com/cb") for i in range(count)])
    ClientSettings.objects.bulk_create([ClientSettings(application=app) for app in apps])
    AccessToken.objects.bulk_create([
        AccessToken(user=person, application=app, token=f"access-{person.pk}",
                    scope="openid", expires=now + timedelta(hours=1))
        for person, app in zip(members, apps, strict=True)])
    policies = PasswordPolicy.objects.bulk_create(
        [PasswordPolicy(name=f"policy {start + i}") for i in range(count)])
    systems = System.objects.bulk_create([
        System(name=f"system {start + i}", connector="sql", validation_policy=policy,
               generating_policy=policy) for i, policy in enumerate(policies)])
    accounts = SystemAccount.objects.bulk_create([
        SystemAccount(system=system, person=person, name=person.username)
        for system, person in zip(systems, members, strict=True)])
    Operation.objects.bulk_create([
        Operation(system=account.system, account=account, account_name=account.name,
                  kind="update", next_attempt_at=now) for account in accounts])
    ArchivedOperation.objects.bulk_create([
        ArchivedOperation(operation_id=account.pk, system=account.system,
                          account_name=account.name, kind="create", state="executed",
                          created_at=now, ended_at=now) for account in accounts])
    Event.objects.bulk_create([
        Event(action="login", outcome="success", actor=person, actor_label=person.email,
              target_type="user", target_id=str(person.pk), target_label=person.email)
        for person in members])
    ApiToken.objects.bulk_create([
        ApiToken(name=f"token {person.pk}", key_id=f"key-{person.pk}",
                 token_hash=f"{person.pk:064d}", scopes=["users:read"], owner=person)
        for person in members])
    Device.objects.bulk_create([
        Device(name=f"laptop-{person.pk}", owner=person, application=app,
               public_key=f"key-{person.pk}")  # one computer per key
        for person, app in zip(members, apps, strict=True)])
    EnrollmentToken.objects.bulk_create([
        EnrollmentToken(digest=f"{person.pk:064d}", created_by=person, application=app,
                        expires_at=now + timedelta(days=1))
        for person, app in zip(members, apps, strict=True)])
    made = keys.current()  # keys as rotations leave them: signing, next, published, retired
    SigningKey.objects.bulk_create([
        SigningKey(private_key=made.private_key, certificate=made.certificate,
                   signs_from=now + timedelta(days=i - count),
                   published_until=now + timedelta(days=1 - i % 3) if i % 2 else None)
        for i in range(count)])
    OutgoingMail.objects.bulk_create([
        OutgoingMail(user=person, recipient=person.email, subject="Your sign-in code",
                     body_encrypted="") for person in members])


def statements(client: Client, url: str) -> tuple[int, str]:
    """The number of SQL statements answering ``url``, and the page. Asked twice, counting
    the second answer: the first also fills caches (branding, permissions) once."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries), response.content.decode()


LISTS = [
    "/admin/directory/user/", "/admin/directory/group/", "/admin/directory/role/",
    "/admin/directory/adminrole/", "/admin/directory/event/", "/admin/policy/grouppolicy/",
    "/admin/api/apitoken/", "/admin/login/outgoingmail/",
    "/admin/oauth2_provider/application/", "/admin/provisioning/system/",
    "/admin/provisioning/passwordpolicy/", "/admin/provisioning/operation/",
    "/admin/provisioning/archivedoperation/", "/admin/devices/device/",
    "/admin/devices/enrollmenttoken/", "/admin/saml_idp/signingkey/",
]


@pytest.mark.parametrize("url", LISTS)
def test_a_list_issues_as_many_statements_for_fifty_rows_as_for_five(root_client, url):
    fill(SMALL)
    few, _ = statements(root_client, url)
    fill(LARGE - SMALL)
    many, _ = statements(root_client, url)
    assert many == few, f"{url}: {few} statements for {SMALL} rows, {many} for {LARGE}"


def test_a_persons_page_issues_as_many_statements_in_fifty_groups_as_in_five(root_client):
    ada = people(1)[0]

    def join(count: int) -> int:
        groups = Group.objects.bulk_create(
            [Group(name=f"team {Group.objects.count() + i}") for i in range(count)])
        ada.directory_groups.add(*groups)
        roles = Role.objects.bulk_create(
            [Role(name=f"duty {Role.objects.count() + i}") for i in range(count)])
        ada.roles.add(*roles)
        apps = Application.objects.bulk_create([
            Application(name=f"app {group.pk}", client_id=f"client-{group.pk}",
                        client_type=Application.CLIENT_PUBLIC,
                        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
                        redirect_uris="https://app.example.com/cb") for group in groups])
        AccessToken.objects.bulk_create([
            AccessToken(user=ada, application=app, token=f"access-{app.pk}", scope="openid",
                        expires=timezone.now() + timedelta(hours=1)) for app in apps])
        return statements(root_client, f"/admin/directory/user/{ada.pk}/change/")[0]

    few = join(SMALL)
    many = join(LARGE - SMALL)
    assert many == few


@pytest.mark.parametrize("page", ["/admin/directory/group/add/", "/admin/directory/role/add/",
                                  "group", "role"])
def test_a_group_or_role_page_does_not_list_everyone_in_the_directory(root_client, page):
    """Choosing members from a list of every person made these pages take seconds in a
    directory of thousands: the page holds the members' ids, not a choice per person."""
    insiders = people(3)
    group = Group.objects.create(name="Engineering")
    group.members.add(*insiders)
    role = Role.objects.create(name="Developers")
    role.users.add(*insiders)
    url = {"group": f"/admin/directory/group/{group.pk}/change/",
           "role": f"/admin/directory/role/{role.pk}/change/"}.get(page, page)

    people(SMALL, start=100)
    few, small_page = statements(root_client, url)
    outsiders = people(LARGE - SMALL, start=200)
    many, large_page = statements(root_client, url)

    assert many == few
    assert large_page.count("<option") == small_page.count("<option")
    assert outsiders[0].email not in large_page


@pytest.mark.parametrize("kind", ["group", "role"])
def test_a_group_or_role_page_names_its_first_people_and_links_to_all(root_client, kind):
    """However many people it holds, the page names the first ones (by email) and links to
    the user list filtered to all of them, with the same statements."""
    group = Group.objects.create(name="Engineering")
    role = Role.objects.create(name="Developers")
    holders = group.members if kind == "group" else role.users
    url = (f"/admin/directory/group/{group.pk}/change/" if kind == "group"
           else f"/admin/directory/role/{role.pk}/change/")

    holders.add(*people(SMALL))
    few, small_page = statements(root_client, url)
    assert "p0004@example.com" in small_page and "in the user list" not in small_page
    holders.add(*people(PEOPLE_SHOWN + LARGE - SMALL, start=SMALL))
    many, large_page = statements(root_client, url)

    assert many <= few + 1  # the count of everyone, once there are more than shown
    shown = f"p{PEOPLE_SHOWN - 1:04d}@example.com"
    hidden = f"p{PEOPLE_SHOWN:04d}@example.com"
    assert shown in large_page and hidden not in large_page
    total = PEOPLE_SHOWN + LARGE
    lookup = "directory_groups__id__exact" if kind == "group" else "roles__id__exact"
    link = f"/admin/directory/user/?{lookup}={group.pk if kind == 'group' else role.pk}"
    assert f'<a href="{link}">all {total} in the user list</a>' in large_page
    listed = root_client.get(link)
    assert listed.context["cl"].result_count == total


def test_members_are_changed_through_the_id_box(root_client):
    """The page's box sends the members' ids separated by commas; the change is the
    group's service's, audited with the people by name."""
    ada, bob, eve = people(3)
    group = Group.objects.create(name="Engineering")
    group.members.add(eve)
    response = root_client.post(f"/admin/directory/group/{group.pk}/change/", {
        "name": "Engineering", "description": "", "external_id": "",
        "members": f"{ada.pk},{bob.pk}"})
    assert response.status_code == 302
    assert set(group.members.all()) == {ada, bob}
    assert Event.objects.get(action="group.update").detail["members"] == {
        "added": [ada.email, bob.email], "removed": [eve.email]}


def test_a_viewer_reads_the_short_list_not_every_member(client_as):
    """Someone who may only view a group sees its first people and the link, not Django's
    read-only text naming every member."""
    viewer, _ = client_as("Auditor")
    group = Group.objects.create(name="Engineering")
    group.members.add(*people(PEOPLE_SHOWN + 5))
    page = viewer.get(f"/admin/directory/group/{group.pk}/change/").content.decode()
    assert f"p{PEOPLE_SHOWN:04d}@example.com" not in page
    assert f"all {PEOPLE_SHOWN + 5} in the user list" in page
