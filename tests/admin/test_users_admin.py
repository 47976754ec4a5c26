"""The console's user pages: list, filters, add, change, password, bulk actions, delete."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group as AuthGroup

from keystead.directory.models import Event, Group, Source, User

from .helpers import changelist_emails, messages_of, user_change_data

pytestmark = pytest.mark.django_db
USERS = "/admin/directory/user/"


@pytest.fixture
def people(make_user):
    ada = make_user("ada@example.com", "Ada", "Lovelace")
    bob = make_user("bob@example.com", "Bob", "Babbage", is_active=False)
    cy = make_user("cy@example.com", "Cy", "Hopper", source=Source.LDAP, source_id="uid=cy")
    return ada, bob, cy


def test_list_shows_the_columns(root_client, people):
    page = root_client.get(USERS).content.decode()
    for header in ("Email", "User name", "Given name", "Family name", "Active",
                   "Console access", "Source", "Last login"):
        assert header in page, header


def test_search_by_email_and_names(root_client, people):
    assert changelist_emails(root_client.get(USERS, {"q": "ada@"})) == ["ada@example.com"]
    assert changelist_emails(root_client.get(USERS, {"q": "babbage"})) == ["bob@example.com"]
    assert changelist_emails(root_client.get(USERS, {"q": "Cy"})) == ["cy@example.com"]


def test_add_user_with_a_user_name_and_search_by_it(root_client):
    response = root_client.post(USERS + "add/", {
        "email": "grace@example.com", "username": "E12345", "given_name": "Grace",
        "family_name": "Hopper", "password1": "", "password2": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(email="grace@example.com").username == "E12345"
    assert changelist_emails(root_client.get(USERS, {"q": "e123"})) == ["grace@example.com"]
    defaulted = root_client.post(USERS + "add/", {
        "email": "alan@example.com", "username": "", "given_name": "Alan",
        "family_name": "Turing", "password1": "", "password2": ""})
    assert defaulted.status_code == 302
    assert User.objects.get(email="alan@example.com").username == "alan@example.com"


def test_a_user_name_another_person_signs_in_with_is_refused(root_client, people):
    ada = people[0]
    taken = root_client.post(USERS + "add/", {
        "email": "grace@example.com", "username": "ADA@example.com", "given_name": "Grace",
        "family_name": "Hopper", "password1": "", "password2": ""})
    assert taken.status_code == 200
    assert "A user with this user name already exists" in taken.content.decode()
    data = user_change_data(ada, username="bob@example.com")
    changed = root_client.post(f"{USERS}{ada.pk}/change/", data)
    assert changed.status_code == 200
    assert "A user with this user name already exists" in changed.content.decode()
    assert User.objects.get(pk=ada.pk).username == "ada@example.com"


def test_filters(root_client, people, admin_user):
    ada, _bob, cy = people
    team = Group.objects.create(name="Engineering")
    team.members.add(ada, cy)
    ada.groups.add(AuthGroup.objects.get(name="Helpdesk"))

    def emails(**params):
        return sorted(changelist_emails(root_client.get(USERS, params)))

    assert emails(is_active__exact="0") == ["bob@example.com"]
    assert emails(source__exact="ldap") == ["cy@example.com"]
    assert emails(is_staff__exact="1") == [admin_user.email]
    assert emails(directory_groups__id__exact=team.pk) == ["ada@example.com", "cy@example.com"]
    role = AuthGroup.objects.get(name="Helpdesk")
    assert emails(groups__id__exact=role.pk) == ["ada@example.com"]
    page = root_client.get(USERS).content.decode()
    assert "By directory group" in page and "By admin role" in page


def test_add_user_without_family_name_is_refused_naming_it(root_client):
    response = root_client.post(USERS + "add/", {
        "email": "new@example.com", "given_name": "New", "family_name": "  ",
        "password1": "", "password2": "",
    })
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["family_name"]
    assert len(errors["family_name"]) == 1
    assert "Family name is required" in errors["family_name"][0]
    assert "Family name is required" in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()


def test_add_user_with_initial_password_goes_through_the_service(root_client):
    response = root_client.post(USERS + "add/", {
        "email": "New@Example.com", "given_name": "New", "family_name": "Person",
        "password1": "a long enough passphrase", "password2": "a long enough passphrase",
    }, follow=True)
    user = User.objects.get(email="new@example.com")
    assert response.redirect_chain[-1][0] == f"{USERS}{user.pk}/change/"
    assert user.check_password("a long enough passphrase")
    event = Event.objects.get(action="user.create")
    assert event.target_id == str(user.pk)
    assert event.detail["door"] == "admin"
    assert event.actor.email == "root@example.com"
    assert "a long enough passphrase" not in str(event.detail)


def test_add_user_passwords_must_match(root_client):
    response = root_client.post(USERS + "add/", {
        "email": "new@example.com", "given_name": "New", "family_name": "Person",
        "password1": "first passphrase", "password2": "second passphrase",
    })
    assert "do not match" in str(response.context["adminform"].form.errors["password2"])
    assert not User.objects.filter(email="new@example.com").exists()


def test_add_user_without_password_leaves_it_unusable(root_client):
    root_client.post(USERS + "add/", {"email": "new@example.com", "given_name": "New",
                                      "family_name": "Person"})
    assert not User.objects.get(email="new@example.com").has_usable_password()


def test_duplicate_email_is_refused(root_client, people):
    response = root_client.post(USERS + "add/", {"email": "ADA@example.com", "given_name": "A",
                                                 "family_name": "B"})
    assert "already exists" in str(response.context["adminform"].form.errors["email"])


def test_change_user_is_audited_with_the_changed_fields(root_client, people):
    ada = people[0]
    helpdesk = AuthGroup.objects.get(name="Helpdesk")
    response = root_client.post(
        f"{USERS}{ada.pk}/change/",
        user_change_data(ada, family_name="King", is_staff="on", groups=[helpdesk.pk]),
    )
    assert response.status_code == 302
    ada.refresh_from_db()
    assert (ada.family_name, ada.is_staff) == ("King", True)
    event = Event.objects.get(action="user.update")
    assert event.detail["door"] == "admin"
    assert {"family_name", "is_staff", "groups"} <= set(event.detail["changed"])
    assert event.detail["groups"] == {"added": ["Helpdesk"], "removed": []}


def test_change_user_blank_family_name_names_it(root_client, people):
    ada = people[0]
    response = root_client.post(f"{USERS}{ada.pk}/change/", user_change_data(ada, family_name=""))
    assert response.status_code == 200
    assert "Family name is required" in str(response.context["adminform"].form.errors)


def test_password_is_shown_only_as_set_or_not_never_how_it_is_hashed(root_client, make_user):
    user = make_user("pw@example.com")
    user.set_password("summary canary passphrase")
    user.save()
    User.objects.filter(pk=user.pk).update(password_changed_at=datetime(2026, 3, 9, 8, 30,
                                                                        tzinfo=UTC))
    page = root_client.get(f"{USERS}{user.pk}/change/").content.decode()
    assert "Password set on 2026-03-09 08:30." in page
    for hash_words in ("argon2", "algorithm", "memory cost", "time cost", "parallelism",
                       "salt", user.password, user.password.rsplit("$", 1)[-1]):
        assert hash_words not in page, hash_words
    assert f'href="{USERS}{user.pk}/password/"' in page
    assert 'name="password"' not in page
    nopassword = make_user("none@example.com")
    page = root_client.get(f"{USERS}{nopassword.pk}/change/").content.decode()
    assert "No password: this person cannot sign in with a password" in page


def test_no_raw_permission_picker_and_admin_roles_chosen_by_name(root_client, make_user):
    person = make_user("ada@example.com", "Ada", "Lovelace")
    response = root_client.get(f"{USERS}{person.pk}/change/")
    form = response.context["adminform"].form
    assert "user_permissions" not in form.fields
    assert form.fields["groups"].label == "Admin roles"
    page = response.content.decode()
    assert 'name="user_permissions"' not in page and "Can add" not in page
    helpdesk = AuthGroup.objects.get(name="Helpdesk")
    assert f'type="checkbox" name="groups" value="{helpdesk.pk}"' in page
    assert "Helpdesk</label>" in page
    response = root_client.post(f"{USERS}{person.pk}/change/", user_change_data(
        person, is_staff="on", groups=[helpdesk.pk]))
    assert response.status_code == 302
    assert list(person.groups.values_list("name", flat=True)) == ["Helpdesk"]


def test_set_password_through_the_admin_form_is_audited(root_client, people):
    ada = people[0]
    url = f"{USERS}{ada.pk}/password/"
    assert root_client.get(url).status_code == 200
    response = root_client.post(url, {"password1": "new passphrase here",
                                      "password2": "new passphrase here"}, follow=True)
    assert "Password changed." in messages_of(response)
    ada.refresh_from_db()
    assert ada.check_password("new passphrase here")
    assert ada.password_changed_at is not None
    event = Event.objects.get(action="user.password.set")
    assert event.target_id == str(ada.pk)
    assert "new passphrase here" not in str(event.detail)


def test_only_holders_of_set_user_password_may_set_passwords(client_as, make_user):
    role = AuthGroup.objects.create(name="Viewer and editor")
    role.permissions.set(
        AuthGroup.objects.get(name="Directory administrator").permissions.exclude(
            codename="set_user_password"
        )
    )
    client, _ = client_as("Viewer and editor")
    person = make_user("ada@example.com", "Ada", "Lovelace")
    assert client.get(f"{USERS}{person.pk}/password/").status_code == 403
    page = client.get(f"{USERS}{person.pk}/change/").content.decode()
    assert f"{USERS}{person.pk}/password/" not in page
    assert "Send reset mail" not in page
    add_page = client.get(USERS + "add/")
    assert "password1" not in add_page.context["adminform"].form.fields
    client.post(USERS + "add/", {"email": "x@example.com", "given_name": "X",
                                 "family_name": "Y", "password1": "sneaky passphrase",
                                 "password2": "sneaky passphrase"})
    assert not User.objects.get(email="x@example.com").has_usable_password()


def test_helpdesk_sets_a_persons_password_but_not_an_admins(client_as, make_user, admin_user):
    client, _ = client_as("Helpdesk")
    person = make_user("ada@example.com", "Ada", "Lovelace")
    response = client.post(f"{USERS}{person.pk}/password/",
                           {"password1": "helpdesk passphrase", "password2": "helpdesk passphrase"})
    assert response.status_code == 302
    assert client.get(f"{USERS}{admin_user.pk}/password/").status_code == 403
    response = client.post(f"{USERS}{admin_user.pk}/change/",
                           user_change_data(admin_user, family_name="Owned"))
    assert response.status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.family_name == "Admin"


def test_helpdesk_cannot_grant_itself_privileges(client_as, make_user):
    client, me = client_as("Helpdesk")
    person = make_user("ada@example.com", "Ada", "Lovelace")
    response = client.post(f"{USERS}{person.pk}/change/", user_change_data(
        person, is_superuser="on", is_staff="on",
        groups=[AuthGroup.objects.get(name="Directory administrator").pk],
    ))
    assert response.status_code == 302
    person.refresh_from_db()
    assert not person.is_superuser and not person.is_staff
    assert not person.groups.exists()
    assert client.post(f"{USERS}{me.pk}/change/",
                       user_change_data(me, is_superuser="on")).status_code == 403


def test_bulk_deactivate_and_activate_are_audited(root_client, people, admin_user):
    ada, bob, cy = people
    response = root_client.post(USERS, {
        "action": "deactivate_users", "_selected_action": [ada.pk, cy.pk, admin_user.pk],
    }, follow=True)
    assert "Deactivated 2 users." in messages_of(response)
    assert any("root@example.com" in m for m in messages_of(response))
    assert set(User.objects.filter(is_active=False).values_list("email", flat=True)) == {
        "ada@example.com", "bob@example.com", "cy@example.com"}
    assert User.objects.get(pk=admin_user.pk).is_active
    events = Event.objects.filter(action="user.deactivate")
    assert sorted(events.values_list("target_label", flat=True)) == [
        "ada@example.com", "cy@example.com"]
    assert all(e.detail == {"door": "admin"} and e.actor_id == admin_user.pk for e in events)

    response = root_client.post(USERS, {"action": "activate_users",
                                        "_selected_action": [bob.pk]}, follow=True)
    assert "Activated 1 user." in messages_of(response)
    assert User.objects.get(pk=bob.pk).is_active
    assert Event.objects.filter(action="user.activate", target_id=str(bob.pk)).count() == 1


def test_helpdesk_bulk_actions_skip_admin_accounts(client_as, make_user, admin_user):
    client, _ = client_as("Helpdesk")
    person = make_user("ada@example.com", "Ada", "Lovelace")
    response = client.post(USERS, {"action": "deactivate_users",
                                   "_selected_action": [person.pk, admin_user.pk]}, follow=True)
    assert "Deactivated 1 user." in messages_of(response)
    assert User.objects.get(pk=admin_user.pk).is_active
    assert not User.objects.get(pk=person.pk).is_active


def test_delete_user_is_audited(root_client, people):
    ada = people[0]
    response = root_client.post(f"{USERS}{ada.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=ada.pk).exists()
    event = Event.objects.get(action="user.delete")
    assert event.target_label == "ada@example.com"


def test_disabling_password_sign_in_is_audited(root_client, make_user):
    user = make_user("pw@example.com")
    user.set_password("some passphrase here")
    user.save()
    response = root_client.post(f"{USERS}{user.pk}/password/", {
        "usable_password": "false", "unset-password": "1"}, follow=True)
    assert "Password-based sign-in was disabled for this user." in messages_of(response)
    user.refresh_from_db()
    assert not user.has_usable_password()
    assert Event.objects.filter(action="user.password.disable", target_id=str(user.pk)).exists()


def test_a_malformed_email_gets_one_message_and_nothing_about_the_user_name(root_client):
    response = root_client.post(USERS + "add/", {
        "email": "not an email", "given_name": "New", "family_name": "Person",
        "password1": "", "password2": ""})
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["email"]
    assert errors["email"] == ["Enter a valid email address."]
