"""LDAP sources in the console: add/change through the service, write-only bind password,
and the Test connection / Test sign-in actions against a real slapd."""

from __future__ import annotations

import pytest
from django.test import Client

from keystead.directory.authorization import NotAllowed
from keystead.directory.models import Event, User
from keystead.policy.models import Strategy
from keystead.policy.strategies import strategy_prerequisites
from keystead.secret import Secret
from keystead.sources.ldap import services
from keystead.sources.ldap.models import LdapSource

from .helpers import make_source
from .slapd import PEOPLE, PEOPLE_DN, Slapd, make_ca

pytestmark = pytest.mark.django_db
ADD_URL = "/admin/ldap_source/ldapsource/add/"
SERVICE_PASSWORD_MARK = "service-Secret"


def console(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_values(slapd: Slapd, **changes) -> dict:
    values = {
        "name": "Corporate directory", "enabled": "on", "kind": "openldap", "mode": "read_only",
        "host": slapd.host, "port": slapd.ldaps_port, "method": "ldaps",
        "ca_certificate": slapd.ca_pem, "base_dn": PEOPLE_DN, "user_key": "uid",
        "user_filter": "", "bind_dn": slapd.service_dn,
        "bind_password": slapd.service_password, "connect_timeout": 3,
        "operation_timeout": 5, "unique_id_attribute": "entryUUID", "email_attribute": "mail",
        "given_name_attribute": "givenName", "family_name_attribute": "sn",
        "username_attribute": "uid", "group_base_dn": "",
        "group_filter": "(objectClass=groupOfNames)",
        "group_member_attribute": "member", "sync_interval_minutes": 60,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def test_add_keeps_the_bind_password_encrypted_and_never_shows_it(admin_user, slapd):
    client = console(admin_user)
    response = client.post(ADD_URL, form_values(slapd))
    assert response.status_code == 302, response.content.decode()[-2000:]
    source = LdapSource.objects.get()
    assert source.bind_password.reveal() == slapd.service_password
    assert slapd.service_password not in source.bind_password_encrypted
    page = client.get(f"/admin/ldap_source/ldapsource/{source.pk}/change/").content.decode()
    assert slapd.service_password not in page and "Test connection" in page
    event = Event.objects.get(action="ldap_source.change")
    assert event.detail["created"] is True and event.detail["service_bind"] == "new password"
    assert slapd.service_password not in repr(event.__dict__)


def test_change_without_a_password_keeps_it(admin_user, slapd):
    source = make_source(slapd, "ldaps")
    response = console(admin_user).post(f"/admin/ldap_source/ldapsource/{source.pk}/change/",
                                        form_values(slapd, name="Renamed", bind_password=None))
    assert response.status_code == 302, response.content.decode()[-2000:]
    source.refresh_from_db()
    assert source.name == "Renamed" and source.bind_password.reveal() == slapd.service_password
    event = Event.objects.get(action="ldap_source.change")
    assert event.detail["changed"] == ["name"]


@pytest.mark.parametrize(("field", "value", "words"), [
    ("port", 70000, "Port must be a whole number from 1 to 65535"),
    ("base_dn", "people at example", "Base DN 'people at example' is not a valid DN"),
    ("bind_dn", "keystead", "Service bind DN 'keystead' is not a valid DN"),
    ("ca_certificate", "MIIB...not pem", "CA certificate is not PEM"),
    ("user_filter", "(objectClass=person", "is not an LDAP filter"),
    ("host", "ldaps://ldap.example.org", "must be a name or address only"),
    ("host", "..", "is not a valid host name"),
    ("host", "x" * 64 + ".example.org", "is not a valid host name"),
])
def test_bad_input_names_the_field_and_writes_nothing(admin_user, slapd, field, value, words):
    response = console(admin_user).post(ADD_URL, form_values(slapd, **{field: value}))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(words in text for text in errors[field]), errors
    assert not LdapSource.objects.exists() and not Event.objects.filter(
        action="ldap_source.change").exists()


def test_a_stored_host_name_that_cannot_be_looked_up_fails_the_dns_step(admin_user, slapd):
    source = make_source(slapd, "plain")
    LdapSource.objects.filter(pk=source.pk).update(host="ä" * 60)  # stored before the rule
    page = console(admin_user).post(f"/admin/ldap_source/ldapsource/{source.pk}/test/",
                                    {"action": "connection"})
    assert page.status_code == 200
    assert "is not a valid host name" in page.content.decode()


def test_an_id_that_is_not_a_number_is_not_found(admin_user):
    assert console(admin_user).get("/admin/ldap_source/ldapsource/%C2%B2/test/").status_code \
        == 404


def test_a_second_enabled_source_is_refused(admin_user, slapd):
    make_source(slapd)
    response = console(admin_user).post(ADD_URL, form_values(slapd, name="Second"))
    errors = response.context["adminform"].form.errors
    assert "only one source can be" in " ".join(errors["enabled"])
    assert LdapSource.objects.count() == 1


def test_only_superusers_change_sources(slapd, admin_user):
    helper = User.objects.create_user("helpdesk@example.com", "Help", "Desk", is_staff=True)
    assert console(helper).get(ADD_URL).status_code == 403
    with pytest.raises(NotAllowed):
        services.save_source(None, form_values(slapd), actor=helper)
    assert Event.objects.filter(action="ldap_source.change", outcome="denied").exists()


def test_test_connection_passes_and_unlocks_the_strategy(admin_user, slapd):
    source = make_source(slapd, "ldaps", last_test_ok=False)
    assert strategy_prerequisites(Strategy.LDAP)  # not tested yet
    response = console(admin_user).post(f"/admin/ldap_source/ldapsource/{source.pk}/test/",
                                        {"action": "connection"})
    page = response.content.decode()
    assert response.status_code == 200 and "Connection test passed" in page
    for step in ("DNS", "TCP connect", "TLS", "Service bind"):
        assert f"<td>{step}</td><td>passed</td>" in page
    source.refresh_from_db()
    assert source.last_test_ok and source.last_test_message.startswith("Connection test passed")
    assert strategy_prerequisites(Strategy.LDAP) == []
    event = Event.objects.get(action="ldap_source.test")
    assert event.outcome == "success" and event.detail["test"] == "connection"


def test_test_connection_shows_the_failing_step_and_the_fix(admin_user, slapd):
    source = make_source(slapd, "ldaps", ca_certificate=make_ca("Another CA").ca_pem)
    page = console(admin_user).post(f"/admin/ldap_source/ldapsource/{source.pk}/test/",
                                    {"action": "connection"}).content.decode()
    assert "Connection test failed" in page and "<strong>failed</strong>" in page
    assert "unknown CA" in page and "Paste the CA certificate" in page
    source.refresh_from_db()
    assert not source.last_test_ok
    assert Event.objects.get(action="ldap_source.test").outcome == "failure"


def test_test_sign_in_checks_a_person_and_keeps_no_password(admin_user, slapd):
    source = make_source(slapd)
    client = console(admin_user)
    url = f"/admin/ldap_source/ldapsource/{source.pk}/test/"
    right = client.post(url, {"action": "sign-in", "username": "ada",
                              "password": PEOPLE["ada"][2]}).content.decode()
    assert "Sign-in test passed" in right and f"Bound as uid=ada,{PEOPLE_DN}." in right
    wrong_password = "Wrong-Test-Password-12"
    wrong = client.post(url, {"action": "sign-in", "username": "ada",
                              "password": wrong_password}).content.decode()
    assert "Sign-in test failed" in wrong and "wrong password" in wrong
    assert wrong_password not in wrong and PEOPLE["ada"][2] not in right
    events = Event.objects.filter(action="ldap_source.test")
    assert [e.detail["username"] for e in events] == ["ada", "ada"]
    assert all(PEOPLE["ada"][2] not in repr(e.__dict__) for e in events)
    assert not User.objects.filter(username="ada").exists()  # a test creates nobody


def test_test_page_for_a_plain_source_warns(admin_user, slapd):
    source = make_source(slapd, "plain")
    page = console(admin_user).post(f"/admin/ldap_source/ldapsource/{source.pk}/test/",
                                    {"action": "connection"}).content.decode()
    assert "in clear" in page
    listing = console(admin_user).get("/admin/ldap_source/ldapsource/").content.decode()
    assert "passwords in clear!" in listing


def test_changing_connection_settings_needs_a_new_test(admin_user, slapd):
    source = make_source(slapd)
    services.save_source(source, {**{f: getattr(source, f) for f in services.EDITABLE},
                                  "operation_timeout": 7},
                         actor=admin_user)
    source.refresh_from_db()
    assert source.last_test_ok  # a timeout is not a connection setting
    services.save_source(source, {**{f: getattr(source, f) for f in services.EDITABLE},
                                  "base_dn": slapd.base_dn},
                         bind_password=Secret(slapd.service_password), actor=admin_user)
    source.refresh_from_db()
    assert not source.last_test_ok and source.last_test_message == services.NEEDS_NEW_TEST


def test_the_source_page_shows_the_last_sync(admin_user, slapd):
    source = make_source(slapd, "ldaps")
    url = f"/admin/ldap_source/ldapsource/{source.pk}/change/"
    assert "No sync has run yet." in console(admin_user).get(url).content.decode()
    LdapSource.objects.filter(pk=source.pk).update(last_sync_report={
        "full": True, "ok": True, "finished_at": "2026-12-06T10:00:00+00:00",
        "counts": {"seen": 12, "created": 3, "updated": 2, "disabled": 1, "refused": 4}})
    page = console(admin_user).get(url).content.decode()
    assert "Full sync at 2026-12-06 10:00 UTC: 12 seen, 3 created, 2 updated" in page
    assert "1 disabled, 4 refused" in page
