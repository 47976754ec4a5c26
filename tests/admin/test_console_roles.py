"""Branding, the ready-made admin roles and what each of them may do in the console."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission

from keystead.directory.models import Event

pytestmark = pytest.mark.django_db

EXPECTED_ROLES = {
    "Directory administrator": {
        *(f"directory.{verb}_{model}" for model in ("user", "group", "role")
          for verb in ("add", "change", "delete", "view")),
        "directory.set_user_password",
        "directory.view_event",
    },
    "Helpdesk": {
        "directory.view_user", "directory.change_user", "directory.unlock_user",
        "directory.set_user_password", "directory.view_event",
    },
    "Security administrator": {
        "directory.manage_policy", "directory.view_event", "directory.unlock_user",
        "api.view_apitoken", "api.add_apitoken", "api.change_apitoken",
        # added by policy/0002_admin_role_permissions
        "directory.view_user",
        "policy.view_logonpolicy", "policy.change_logonpolicy",
        *(f"policy.{verb}_grouppolicy" for verb in ("add", "change", "delete", "view")),
    },
    "Auditor": {
        "directory.view_user", "directory.view_group", "directory.view_role",
        "directory.view_adminrole", "directory.view_event", "api.view_apitoken",
        "policy.view_logonpolicy", "policy.view_grouppolicy",
    },
}


def test_console_is_branded_keystead(root_client):
    page = root_client.get("/admin/").content.decode()
    assert "<title>Administration | Keystead</title>" in page
    assert 'id="site-name"' in page and "Keystead" in page
    assert "keystead/admin.css" in page
    assert "Django administration" not in page


def test_ready_made_admin_roles_exist_with_their_permissions():
    for name, expected in EXPECTED_ROLES.items():
        role = AuthGroup.objects.get(name=name)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in role.permissions.all()}
        assert held == expected, name


def test_admin_roles_are_listed_once_as_admin_roles(root_client):
    page = root_client.get("/admin/directory/adminrole/").content.decode()
    for name in EXPECTED_ROLES:
        assert name in page
    assert root_client.get("/admin/auth/group/").status_code == 404


def test_helpdesk_can_view_and_edit_people_but_not_delete_them(client_as, make_user):
    client, _ = client_as("Helpdesk")
    person = make_user("ada@example.com", "Ada", "Lovelace")
    assert client.get("/admin/directory/user/").status_code == 200
    assert client.get(f"/admin/directory/user/{person.pk}/change/").status_code == 200
    assert client.get(f"/admin/directory/user/{person.pk}/delete/").status_code == 403
    response = client.post(f"/admin/directory/user/{person.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert client.get("/admin/directory/user/add/").status_code == 403
    assert client.get("/admin/directory/group/").status_code == 403
    person.refresh_from_db()


def test_auditor_sees_everything_and_changes_nothing(client_as, make_user):
    client, _ = client_as("Auditor")
    person = make_user("ada@example.com", "Ada", "Lovelace")
    for url in ("/admin/directory/user/", "/admin/directory/group/", "/admin/directory/role/",
                "/admin/directory/adminrole/", "/admin/directory/event/", "/admin/api/apitoken/"):
        assert client.get(url).status_code == 200, url
    page = client.get(f"/admin/directory/user/{person.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    response = client.post(f"/admin/directory/user/{person.pk}/change/",
                           {"email": person.email, "given_name": "X", "family_name": "Y"})
    assert response.status_code == 403


def test_staff_without_a_role_sees_nothing(client_as):
    client, _ = client_as()
    assert client.get("/admin/directory/user/").status_code == 403
    assert "have permission to view or edit anything" in client.get("/admin/").content.decode()


def test_console_sign_in_goes_through_the_audited_portal_sign_in(client, admin_user):
    response = client.get("/admin/directory/user/", follow=True)
    assert response.redirect_chain[-1][0] == "/login/?next=/admin/directory/user/"
    response = client.post("/login/?next=/admin/directory/user/", {
        "username": "root@example.com", "password": "correct horse battery staple",
        "next": "/admin/directory/user/",
    }, follow=True)
    assert response.redirect_chain[-1][0] == "/admin/directory/user/"
    assert Event.objects.filter(action="login", actor=admin_user, outcome="success").exists()
    client.post("/admin/logout/")
    assert Event.objects.filter(action="logout", detail__door="admin").exists()


def test_console_login_page_never_takes_a_password(client, admin_user):
    response = client.post("/admin/login/?next=/admin/", {
        "username": "root@example.com", "password": "correct horse battery staple"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session


def test_signed_in_person_without_console_access_is_told_so(client, make_user):
    person = make_user("ada@example.com", "Ada", "Lovelace")
    client.force_login(person)
    response = client.get("/admin/", follow=True)
    assert "not authorized to access this page" in response.content.decode()


def test_only_a_superuser_changes_admin_roles(client_as, root_client):
    """Whoever could change a role they hold could give themselves any permission, so the
    Django permission to change admin roles is not enough: only a superuser may."""
    client, holder = client_as("Auditor")
    auditor = AuthGroup.objects.get(name="Auditor")
    for codename in ("add_adminrole", "change_adminrole", "delete_adminrole"):
        auditor.permissions.add(Permission.objects.get(codename=codename))
    every = list(Permission.objects.values_list("pk", flat=True))
    url = f"/admin/directory/adminrole/{auditor.pk}/change/"
    assert client.get("/admin/directory/adminrole/").status_code == 200  # still sees them
    assert 'name="_save"' not in client.get(url).content.decode()
    assert client.post(url, {"name": "Auditor", "permissions": every}).status_code == 403
    assert client.get("/admin/directory/adminrole/add/").status_code == 403
    assert client.post(f"/admin/directory/adminrole/{auditor.pk}/delete/",
                       {"post": "yes"}).status_code == 403
    assert not holder.has_perm("directory.delete_user")
    assert auditor.permissions.count() < len(every)

    changed = root_client.post(url, {"name": "Auditor", "permissions": every})
    assert changed.status_code == 302
    assert auditor.permissions.count() == len(every)
