"""Fixtures for provisioning: a slapd of our own, target databases on PostgreSQL and MariaDB.

Each xdist worker gets its own slapd (``start_slapd`` from the LDAP source
tests) with an ``ou=accounts`` branch that only provisioning writes to, and
its own target database on each SQL server, so counts on the targets are
exact.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import ldap
import pytest
import sqlalchemy as sa

from keystead.directory.models import Role, User
from keystead.provisioning.models import ConnectorType, RoleSystem, System
from keystead.secret import Secret
from sources.ldap.slapd import Slapd, start_slapd, stop_slapd

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MARIADB_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306/"


def _suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def prov_slapd() -> Iterator[Slapd]:
    server = start_slapd()
    try:
        yield server
    finally:
        stop_slapd(server)


@pytest.fixture
def accounts_ou(prov_slapd: Slapd) -> Iterator[str]:
    """A fresh, empty branch for one test's accounts; removed afterwards."""
    dn = f"ou=acc-{uuid.uuid4().hex[:10]},{prov_slapd.base_dn}"
    conn = prov_slapd.admin()
    conn.add_s(dn, [("objectClass", [b"organizationalUnit"]),
                    ("ou", [dn.split(",")[0][3:].encode()])])
    try:
        yield dn
    finally:
        for child, _ in conn.search_s(dn, ldap.SCOPE_ONELEVEL, attrlist=["1.1"]):
            conn.delete_s(child)
        conn.delete_s(dn)
        conn.unbind_s()


@pytest.fixture
def ldap_system(db, prov_slapd: Slapd, accounts_ou: str) -> System:
    system = System(name=f"ldap-{uuid.uuid4().hex[:6]}", connector=ConnectorType.LDAP,
                    settings={"url": prov_slapd.ldap_url, "bind_dn": prov_slapd.root_dn,
                              "base_dn": accounts_ou, "name_attribute": "uid",
                              "object_classes": ["inetOrgPerson"]})
    system.set_secrets({"bind_password": Secret(prov_slapd.root_password)})
    system.save()
    return system


def _create_database(admin_url: str, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                     {"n": name}).first()
                if not found:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            else:
                conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sql_targets() -> dict[str, str]:
    """One target database per SQL server for this xdist worker: kind -> URL."""
    name = f"ks_prov_target_{_suffix()}"
    _create_database(PG_ADMIN_URL, name)
    _create_database(MARIADB_ADMIN_URL, name)
    return {"postgresql": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
            "mariadb": f"mysql+pymysql://root@127.0.0.1:3306/{name}"}


@pytest.fixture(params=["postgresql", "mariadb"])
def sql_table(request, sql_targets: dict[str, str]) -> Iterator[tuple[str, str]]:
    """A fresh accounts table on the parametrized server: (URL, table name)."""
    url = sql_targets[request.param]
    table = f"accounts_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    sa.Table(table, meta,
             sa.Column("login", sa.String(100), primary_key=True),
             sa.Column("full_name", sa.String(200)),
             sa.Column("email_address", sa.String(200)),
             sa.Column("pass", sa.String(300)),
             sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()))
    meta.create_all(engine)
    try:
        yield url, table
    finally:
        meta.drop_all(engine)
        engine.dispose()


@pytest.fixture
def ada(db) -> User:
    """A person without a Keystead password, whose accounts the tests provision."""
    return User.objects.create_user("ada@example.test", "Ada", "Lovelace", password=None,
                                    username="ada")


@pytest.fixture
def role(ldap_system: System) -> Role:
    """A role that grants an account on the LDAP system."""
    role = Role.objects.create(name="engineering")
    RoleSystem.objects.create(role=role, system=ldap_system)
    return role
