"""Signing in through a real slapd under the LDAP login strategy, through every door."""

from __future__ import annotations

import socket

import ldap
import pytest
from django.test import Client

from keystead.directory.models import Event, Group, Source, User
from keystead.login.passwords import GENERIC_FAILURE, Result, sign_in_with_password
from keystead.policy.models import GroupPolicy, LogonPolicy
from keystead.secret import Secret
from keystead.sources.ldap import pool
from keystead.sources.ldap.sign_in import UNAVAILABLE

from .helpers import add_person, make_source, use_strategy
from .slapd import (
    GRACE_LOGINS,
    PEOPLE,
    PEOPLE_DN,
    free_port,
    make_ca,
)

pytestmark = pytest.mark.django_db
KEYSTEAD_PASSWORD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture
def source(directory):
    use_strategy("ldap")
    return make_source(directory)


def portal(name: str, password: str, client: Client | None = None):
    return (client or Client()).post("/login/", {"username": name, "password": password})


def last_login_event() -> Event:
    return Event.objects.filter(action="login").order_by("-id").first()


def oidc_grant(name: str, password: str):
    from oidc.helpers import Application, basic, make_app

    app, secret = make_app(grant=Application.GRANT_PASSWORD, redirect="", name="Ldap grant")
    return Client().post("/oauth/token/", {"grant_type": "password", "username": name,
                                           "password": password, "scope": "openid"},
                         **basic(app, secret))


@pytest.mark.parametrize("method", ["plain", "ldaps", "starttls"])
def test_portal_sign_in_over_each_method_creates_the_person(directory, method):
    use_strategy("ldap")
    make_source(directory, method)
    response = portal("ada", PEOPLE["ada"][2])
    assert response.status_code == 302, response.content.decode()[-800:]
    ada = User.objects.get(email="ada@example.test")
    assert (ada.source, ada.username, ada.given_name, ada.family_name) == (
        Source.LDAP, "ada", "Ada", "Lovelace")
    assert len(ada.source_id) == 36 and not ada.has_usable_password()
    created = Event.objects.get(action="user.create", target_id=str(ada.pk))
    assert created.detail["dn"] == f"uid=ada,{PEOPLE_DN}" and created.detail["problems"] == []
    assert last_login_event().detail == {"method": "ldap", "door": "portal"}
    # The second sign-in finds the same person.
    assert portal("ada", PEOPLE["ada"][2]).status_code == 302
    assert User.objects.filter(source=Source.LDAP).count() == 1


@pytest.mark.parametrize("method", ["plain", "ldaps", "starttls"])
def test_oidc_password_grant_over_each_method(directory, method):
    use_strategy("ldap")
    make_source(directory, method)
    right = oidc_grant("alan", PEOPLE["alan"][2])
    assert right.status_code == 200, right.content
    assert "access_token" in right.json()
    wrong = oidc_grant("alan", "Not-Alans-Password-1")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert last_login_event().detail["door"] == "oidc"


def test_wrong_password_is_generic_and_counts_on_the_person(source):
    assert portal("ada", PEOPLE["ada"][2]).status_code == 302
    response = portal("ada", "Wrong-Password-For-Ada-1")
    assert response.status_code == 200
    assert GENERIC_FAILURE in response.content.decode()
    event = last_login_event()
    assert event.outcome == "failure" and event.detail["reason"] == "wrong password"
    assert User.objects.get(username="ada").failed_logins == 1


def test_keystead_lockout_applies_on_top(source):
    LogonPolicy.objects.filter(pk=1).update(max_failures=2, lock_minutes=0)
    assert portal("alan", PEOPLE["alan"][2]).status_code == 302
    for _ in range(2):
        portal("alan", "Wrong-Password-For-Alan-1")
    assert User.objects.get(username="alan").is_locked()
    # The directory accepts the password; Keystead's lock still refuses, generically.
    response = portal("alan", PEOPLE["alan"][2])
    assert response.status_code == 200 and GENERIC_FAILURE in response.content.decode()
    assert last_login_event().detail["reason"] == "account locked"


def test_second_factor_applies_on_top(source):
    group = Group.objects.create(name="Needs codes")
    GroupPolicy.objects.create(group=group, require_second_factor=True)
    result = sign_in_with_password("ada", Secret(PEOPLE["ada"][2]), door="test")
    assert result.result is Result.OK and result.second_factor is False
    group.members.add(result.user)
    again = sign_in_with_password("ada", Secret(PEOPLE["ada"][2]), door="test")
    assert again.result is Result.OK and again.second_factor is True


def test_unknown_user_is_generic(source):
    response = portal("nobody", "Some-Password-123")
    assert response.status_code == 200 and GENERIC_FAILURE in response.content.decode()
    assert last_login_event().detail["reason"] == "unknown user"
    assert not User.objects.exists()


def test_unreachable_server_says_so_and_audits_why(directory):
    use_strategy("ldap")
    source = make_source(directory)
    source.port = free_port()
    source.save()
    response = portal("ada", PEOPLE["ada"][2])
    assert response.status_code == 200 and UNAVAILABLE in response.content.decode()
    reason = last_login_event().detail["reason"]
    assert reason.startswith("directory unavailable: ") and str(source.port) in reason, reason


def test_bad_tls_is_unavailable_with_the_reason_audited(directory):
    use_strategy("ldap")
    make_source(directory, "ldaps", ca_certificate=make_ca("Some other CA").ca_pem)
    response = portal("ada", PEOPLE["ada"][2])
    assert UNAVAILABLE in response.content.decode()
    assert "unknown CA" in last_login_event().detail["reason"]


def test_locked_on_the_directory_is_generic_with_the_reason_audited(source, directory):
    try:
        for _ in range(directory.max_failures):
            portal("locked", "bad-guess-1")
        response = portal("locked", PEOPLE["locked"][2])
        assert GENERIC_FAILURE in response.content.decode()
        assert last_login_event().detail["reason"] == "locked on the directory (ppolicy)"
    finally:
        directory.unlock("locked")


def test_must_change_after_reset_read_only_says_where_to_change(source):
    response = portal("reset", PEOPLE["reset"][2])
    page = response.content.decode()
    assert response.status_code == 200
    assert "reset by an administrator and must be changed" in page
    assert "usual tool" in page
    assert "must change after reset" in last_login_event().detail["reason"]


def test_must_change_in_writable_mode_leads_to_keysteads_change_page(directory):
    use_strategy("ldap")
    make_source(directory, mode="writable")
    response = portal("reset", PEOPLE["reset"][2])
    assert response.status_code == 302 and response["Location"] == "/password/change-required/"
    assert last_login_event().outcome == "denied"


def test_expired_password_is_told(source):
    page = portal("expired", PEOPLE["expired"][2]).content.decode()
    assert "Your directory password has expired." in page
    assert last_login_event().detail["reason"] == "password expired (ppolicy)"


def test_grace_sign_in_warns(source):
    client = Client()
    response = portal("grace", PEOPLE["grace"][2], client)
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert f"you can sign in {GRACE_LOGINS - 1} more time(s)" in page
    assert "grace sign-in" in last_login_event().detail["directory"]


def test_first_sign_in_links_a_person_with_the_same_email(source):
    local = User.objects.create_user("alan@example.test", "Alan", "Local",
                                     password=KEYSTEAD_PASSWORD)
    assert portal("alan", PEOPLE["alan"][2]).status_code == 302
    local.refresh_from_db()
    assert local.source == Source.LDAP and local.source_id
    link = Event.objects.get(action="ldap_source.link")
    assert link.target_id == str(local.pk) and link.detail["dn"] == f"uid=alan,{PEOPLE_DN}"
    assert User.objects.count() == 1


@pytest.mark.parametrize("access", ["is_staff", "is_superuser"])
def test_first_sign_in_never_takes_over_an_account_with_console_access(source, access):
    admin = User.objects.create_user("alan@example.test", "Alan", "Local",
                                     password=KEYSTEAD_PASSWORD, **{access: True})
    response = portal("alan", PEOPLE["alan"][2])
    assert response.status_code == 200
    assert "console access" in response.content.decode()
    admin.refresh_from_db()
    assert (admin.source, admin.source_id) == (Source.LOCAL, "")
    assert not Event.objects.filter(action="ldap_source.link").exists()
    refused = last_login_event()
    assert refused.outcome != "success" and "console access" in refused.detail["reason"]
    assert User.objects.count() == 1


def test_missing_family_name_is_reported_not_filled_in(directory):
    use_strategy("ldap")
    make_source(directory, family_name_attribute="title")  # no entry has a title
    assert portal("ada", PEOPLE["ada"][2]).status_code == 302
    ada = User.objects.get(username="ada")
    assert ada.family_name == ""
    problems = Event.objects.get(action="user.create").detail["problems"]
    assert any("title (mapped to family name)" in p for p in problems)


def test_user_filter_limits_who_may_sign_in(directory):
    use_strategy("ldap")
    make_source(directory, user_filter="(employeeType=staff)")
    add_person(directory, "staffer", "staffer-Password-55", employeeType="staff")
    assert portal("staffer", "staffer-Password-55").status_code == 302
    assert portal("ada", PEOPLE["ada"][2]).status_code == 200
    assert last_login_event().detail["reason"] == "unknown user"


def test_break_glass_uses_the_keystead_password_under_ldap(directory):
    use_strategy("ldap")
    source = make_source(directory)
    source.port = free_port()  # even with the directory out of reach
    source.save()
    User.objects.create_user("admin@example.test", "Break", "Glass", password=KEYSTEAD_PASSWORD,
                             break_glass=True)
    User.objects.create_user("local@example.test", "Plain", "Local", password=KEYSTEAD_PASSWORD)
    assert portal("admin@example.test", KEYSTEAD_PASSWORD).status_code == 302
    assert last_login_event().detail["method"] == "password"
    assert portal("local@example.test", KEYSTEAD_PASSWORD).status_code == 200
    assert last_login_event().detail["method"] == "ldap"


def test_saml_strategy_allows_passwords_only_for_break_glass(db):
    use_strategy("saml")
    User.objects.create_user("admin@example.test", "Break", "Glass", password=KEYSTEAD_PASSWORD,
                             break_glass=True)
    User.objects.create_user("local@example.test", "Plain", "Local", password=KEYSTEAD_PASSWORD)
    assert portal("admin@example.test", KEYSTEAD_PASSWORD).status_code == 302
    refused = portal("local@example.test", KEYSTEAD_PASSWORD)
    assert refused.status_code == 200 and GENERIC_FAILURE in refused.content.decode()
    assert "login strategy is SAML" in last_login_event().detail["reason"]


def test_pool_reuses_service_connections_and_drops_them_on_change(source):
    assert portal("ada", PEOPLE["ada"][2]).status_code == 302
    first = pool.pool_for(source)
    assert first.idle_count == 1
    assert portal("ada", PEOPLE["ada"][2]).status_code == 302
    assert pool.pool_for(source) is first and first.idle_count == 1
    source.operation_timeout = 6
    source.save()  # a new updated_at: the old connections go
    second = pool.pool_for(source)
    assert second is not first and first.idle_count == 0


def test_pool_replaces_a_dead_connection(source):
    """A directory restart cuts pooled connections; the next sign-in reconnects."""
    assert portal("ada", PEOPLE["ada"][2]).status_code == 302
    shared = pool.pool_for(source)
    (conn,) = shared._idle
    # Shut the socket down under libldap, as a firewall or a server restart would.
    with socket.fromfd(conn.get_option(ldap.OPT_DESC), socket.AF_INET, socket.SOCK_STREAM) as s:
        s.shutdown(socket.SHUT_RDWR)
    assert portal("ada", PEOPLE["ada"][2]).status_code == 302
    assert shared.idle_count == 1 and shared._idle[0] is not conn
