"""Writable mode: passwords set in Keystead reach the directory first, or nothing changes."""

from __future__ import annotations

import ldap
import pytest
from django.test import Client

from keystead.directory import services
from keystead.directory.authorization import Actor
from keystead.directory.models import Event
from keystead.directory.rules import RuleViolation
from keystead.secret import Secret

from .helpers import add_person, binds, console_sets_password, make_source, signed_in, use_strategy
from .slapd import BASE_DN, Slapd

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "Quartz-Lantern-Meadow-73"


@pytest.fixture
def writable(directory):
    use_strategy("ldap")
    return make_source(directory, mode="writable")


def pwd_reset_of(server: Slapd, dn: str) -> list[bytes]:
    conn = server.admin()
    try:
        ((_, entry),) = conn.search_s(dn, ldap.SCOPE_BASE, attrlist=["pwdReset"])
        return entry.get("pwdReset", [])
    finally:
        conn.unbind_s()


def test_portal_change_binds_with_the_new_password(writable, directory):
    old = "portal-Start-Password-11"
    dn = add_person(directory, "wb-portal", old)
    person, browser = signed_in("wb-portal", old)
    response = browser.post("/password/change/", {
        "current_password": old, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302, response.content.decode()[-1500:]
    assert binds(directory, dn, NEW_PASSWORD) and not binds(directory, dn, old)
    event = Event.objects.get(action="user.password.change", target_id=str(person.pk))
    assert event.detail["directory"] == "written"
    # And the next sign-in goes through the directory with the new password.
    signed_in("wb-portal", NEW_PASSWORD)


def test_portal_change_with_a_wrong_current_password_changes_nothing(writable, directory):
    old = "portal-Start-Password-22"
    dn = add_person(directory, "wb-wrong", old)
    _, browser = signed_in("wb-wrong", old)
    response = browser.post("/password/change/", {
        "current_password": "Not-The-Current-One-9", "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 200
    assert "The current password is not right." in response.content.decode()
    assert binds(directory, dn, old) and not binds(directory, dn, NEW_PASSWORD)


def test_admin_set_is_written_by_the_service_account(writable, directory, admin_user):
    old = "admin-Start-Password-33"
    dn = add_person(directory, "wb-admin", old)
    person, _ = signed_in("wb-admin", old)
    conn = directory.admin()  # as if reset on the directory's side before
    conn.modify_s(dn, [(ldap.MOD_ADD, "pwdReset", [b"TRUE"])])
    conn.unbind_s()
    response = console_sets_password(admin_user, person, NEW_PASSWORD)
    assert response.status_code == 200
    assert binds(directory, dn, NEW_PASSWORD) and not binds(directory, dn, old)
    # Not a temporary password: the directory's "must change after reset" mark is removed.
    assert pwd_reset_of(directory, dn) == []
    signed_in("wb-admin", NEW_PASSWORD)


def test_temporary_admin_password_must_be_changed_at_the_next_sign_in(writable, directory,
                                                                    admin_user):
    admin = admin_user
    old = "temp-Start-Password-44"
    dn = add_person(directory, "wb-temp", old)
    person, _ = signed_in("wb-temp", old)
    services.set_password(person, Secret(NEW_PASSWORD), actor=Actor.person(admin),
                          must_change=True)
    assert binds(directory, dn, NEW_PASSWORD)
    browser = Client()
    response = browser.post("/login/", {"username": "wb-temp", "password": NEW_PASSWORD})
    assert response["Location"] == "/password/change-required/"
    final = "Copper-Harbour-Willow-58"
    done = browser.post("/password/change-required/",
                        {"new_password": final, "confirm_password": final})
    assert done.status_code == 302, done.content.decode()[-1500:]
    assert binds(directory, dn, final) and not binds(directory, dn, NEW_PASSWORD)
    person.refresh_from_db()
    assert not person.must_change_password


def test_a_directory_refusal_refuses_the_whole_change(writable, directory, admin_user):
    admin = admin_user
    conn = directory.admin()
    try:
        conn.add_s(f"cn=strict,ou=policies,{BASE_DN}", [
            ("objectClass", [b"device", b"pwdPolicy"]), ("cn", [b"strict"]),
            ("pwdAttribute", [b"userPassword"]), ("pwdCheckQuality", [b"2"]),
            ("pwdMinLength", [b"60"])])
    finally:
        conn.unbind_s()
    old = "strict-Start-Password-55"
    dn = add_person(directory, "wb-strict", old,
                    pwdPolicySubentry=f"cn=strict,ou=policies,{BASE_DN}")
    person, browser = signed_in("wb-strict", old)
    before = (person.password, person.password_changed_at)
    response = browser.post("/password/change/", {
        "current_password": old, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 200
    assert "The directory refused the new password" in response.content.decode()
    person.refresh_from_db()
    assert (person.password, person.password_changed_at) == before
    assert not Event.objects.filter(action="user.password.change").exists()
    assert binds(directory, dn, old)
    with pytest.raises(RuleViolation) as refused:  # the admin door too
        services.set_password(person, Secret(NEW_PASSWORD), actor=Actor.person(admin))
    assert refused.value.problems[0].field == "password"


def test_read_only_source_writes_nothing(directory, admin_user):
    admin = admin_user
    use_strategy("ldap")
    make_source(directory)
    old = "readonly-Start-Password-66"
    dn = add_person(directory, "wb-readonly", old)
    person, _ = signed_in("wb-readonly", old)
    services.set_password(person, Secret(NEW_PASSWORD), actor=Actor.person(admin))
    assert binds(directory, dn, old) and not binds(directory, dn, NEW_PASSWORD)


def test_reset_link_is_written_by_the_service_account(writable, directory, deliver):
    old = "reset-Start-Password-77"
    dn = add_person(directory, "wb-link", old)
    person, _ = signed_in("wb-link", old)
    browser = Client()
    browser.post("/reset", {"email": person.email})
    token = deliver()[-1].body.split("/reset/", 1)[1].split()[0]
    browser.get(f"/reset/{token}")
    done = browser.post("/reset/new-password",
                        {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 302, done.content.decode()[-1500:]
    assert binds(directory, dn, NEW_PASSWORD) and not binds(directory, dn, old)
    assert Event.objects.get(action="user.password.reset").detail["directory"] == "written"
    signed_in("wb-link", NEW_PASSWORD)  # chosen by the person: no change asked for


def test_a_password_in_a_user_update_is_written_too(writable, directory, admin_user):
    """The REST API and SCIM set a password inside an update; it reaches the directory the
    same way as a password set on its own."""
    old = "update-Start-Password-44"
    dn = add_person(directory, "wb-update", old)
    person, _ = signed_in("wb-update", old)
    services.update_user(person, {}, actor=Actor.person(admin_user),
                         password=Secret(NEW_PASSWORD), door="api")
    assert binds(directory, dn, NEW_PASSWORD) and not binds(directory, dn, old)
    event = Event.objects.filter(action="user.password.set").latest("id")
    assert event.detail["directory"] == "written"
