"""Shared set-up for tests that sign in through a real directory (slapd, or Samba's AD):
a source row, the strategy, a browser signed in, the console setting a password."""

from __future__ import annotations

import ldap
import ldap.modlist
from django.http import HttpResponse
from django.test import Client

from keystead.directory.models import User
from keystead.policy.models import LogonPolicy
from keystead.secret import Secret
from keystead.sources.ldap.models import LdapSource

from .slapd import PEOPLE_DN, Slapd


def make_source(server: Slapd, method: str = "starttls", **values) -> LdapSource:
    """An enabled source for ``server`` (saved directly: the console's rules are tested
    apart), its test marked as passed."""
    port = server.ldaps_port if method == "ldaps" else server.ldap_port
    values = {"name": "Test directory", "host": server.host, "port": port, "method": method,
              "ca_certificate": server.ca_pem, "base_dn": PEOPLE_DN,
              "bind_dn": server.service_dn, "connect_timeout": 3, "operation_timeout": 5,
              "last_test_ok": True, **values}
    source = LdapSource(**values)
    source.set_bind_password(Secret(server.service_password))
    source.save()
    return source


def use_strategy(strategy: str) -> None:
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(login_strategy=strategy)


def add_person(server: Slapd, uid: str, password: str, *, mail: str | None = None,
               **extra: str) -> str:
    """Add an inetOrgPerson under ou=people; returns its DN."""
    dn = f"uid={uid},{PEOPLE_DN}"
    attrs = {"objectClass": [b"inetOrgPerson"], "uid": [uid.encode()],
             "cn": [f"Test {uid}".encode()], "sn": [b"Person"], "givenName": [b"Test"],
             "mail": [(mail or f"{uid}@example.test").encode()],
             "userPassword": [password.encode()],
             **{k: [v.encode()] for k, v in extra.items()}}
    conn = server.admin()
    try:
        conn.add_s(dn, ldap.modlist.addModlist(attrs))
    finally:
        conn.unbind_s()
    return dn


def binds(server: Slapd, dn: str, password: str) -> bool:
    """Whether the directory accepts ``password`` for ``dn`` (a raw bind, no Keystead)."""
    conn = ldap.initialize(server.ldap_url)
    try:
        conn.simple_bind_s(dn, password)
        return True
    except ldap.INVALID_CREDENTIALS:
        return False
    finally:
        conn.unbind_s()


def signed_in(username: str, password: str) -> tuple[User, Client]:
    """Sign in through the login page; the person and their browser."""
    browser = Client()
    response = browser.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content.decode()[-600:]
    return User.objects.get(username=username), browser


def console_sets_password(admin: User, person: User, password: str, *,
                          follow: bool = True) -> HttpResponse:
    """An administrator sets ``person``'s password on the console's password page."""
    console = Client()
    console.force_login(admin)
    return console.post(f"/admin/directory/user/{person.pk}/password/", {
        "password1": password, "password2": password, "set_usable_password": "true"},
        follow=follow)
