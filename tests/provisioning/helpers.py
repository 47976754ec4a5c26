"""Checks on the targets, shared by the provisioning tests."""

from __future__ import annotations

import subprocess

import ldap
import sqlalchemy as sa
from django.db import connection

from sources.ldap.slapd import Slapd


def ldap_entries(server: Slapd, base: str) -> list[str]:
    conn = server.admin()
    try:
        return [dn for dn, _ in conn.search_s(base, ldap.SCOPE_ONELEVEL, attrlist=["1.1"])]
    finally:
        conn.unbind_s()


def ldap_entry(server: Slapd, dn: str) -> dict[str, list[bytes]]:
    """The entry's attributes as the directory holds them."""
    conn = server.admin()
    try:
        return conn.search_s(dn, ldap.SCOPE_BASE)[0][1]
    finally:
        conn.unbind_s()


def accepts(conn: ldap.ldapobject.LDAPObject, dn: str, password: str) -> bool:
    """Whether the directory behind ``conn`` accepts ``password`` for ``dn`` (a raw bind,
    no Keystead); the connection is closed afterwards."""
    try:
        conn.simple_bind_s(dn, password)
        return True
    except (ldap.INVALID_CREDENTIALS, ldap.UNWILLING_TO_PERFORM):
        return False
    finally:
        conn.unbind_s()


def binds(server: Slapd, dn: str, password: str) -> bool:
    return accepts(ldap.initialize(server.ldap_url), dn, password)


def sql_rows(url: str, table: str) -> list[dict]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(
                sa.text(f"SELECT * FROM {table} ORDER BY login")).mappings()]
    finally:
        engine.dispose()


def ldap_lock(server: Slapd, dn: str) -> list[bytes]:
    """The entry's ``pwdAccountLockedTime``, the lock the LDAP connector disables with (an
    operational attribute: returned only when asked for); empty when not locked."""
    conn = server.admin()
    try:
        return conn.search_s(dn, ldap.SCOPE_BASE, attrlist=["pwdAccountLockedTime"])[0][1].get(
            "pwdAccountLockedTime", [])
    finally:
        conn.unbind_s()


def dump_database() -> str:
    """Every table of the test database as pg_dump writes it (committed data only)."""
    db = connection.settings_dict
    return subprocess.run(
        ["pg_dump", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
         "-U", db["USER"] or "postgres", "--data-only", db["NAME"]],
        capture_output=True, text=True, check=True).stdout
