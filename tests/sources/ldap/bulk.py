"""A second real slapd, preloaded with thousands of people and groups, for the sync tests.

It is separate from the sign-in server in ``slapd.py`` so the sync tests can
add, change and delete entries without disturbing the sign-in tests. The
entries are loaded with ``slapadd`` before the server starts (fast, no
network round trip per entry), with a ``modifyTimestamp`` in the past: a
change made by a test is then certainly newer than anything loaded, so an
incremental pass must see only the changed entries.

The service account is held to a size limit below the number of people, so
a search that does not page fails with "size limit exceeded": a passing sync
proves the pages were asked for.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ldap
import ldap.modlist

from .slapd import (
    MODULE_DIR,
    SCHEMA_DIR,
    free_port,
    launch,
    stop_process,
)

BASE_DN = "dc=bulk,dc=test"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PASSWORD = "bulk-root-Secret-5521"
SERVICE_DN = f"cn=sync,ou=services,{BASE_DN}"
SERVICE_PASSWORD = "bulk-service-Secret-6632"
PEOPLE_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
#: When the loaded entries claim they were made: long before any test runs. Person n
#: was last changed n seconds later, as in a directory that grew over time.
LOADED_AT = "20200101000000Z"
_LOADED = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


def loaded_stamp(number: int) -> str:
    """The modifyTimestamp person ``number`` is loaded with."""
    return (_LOADED + datetime.timedelta(seconds=number)).strftime("%Y%m%d%H%M%SZ")
#: Entries the service account may receive from one unpaged search.
SIZE_LIMIT = 1000


def uid(number: int) -> str:
    return f"p{number:05d}"


def person_dn(number: int) -> str:
    return f"uid={uid(number)},{PEOPLE_DN}"


def group_name(number: int) -> str:
    return f"team-{number:02d}"


def group_members(number: int, groups: int, people: int) -> list[int]:
    """People of group ``number``: every ``groups``-th person, starting at ``number``."""
    return list(range(number, people, groups))


def person_ldif(number: int, *, given: str | None = None, family: str | None = "Person",
                mail: str | None = None, stamp: str | None = None) -> str:
    """One inetOrgPerson (``family`` None: an ``account`` entry, which needs no sn)."""
    given = given or f"Given{number}"
    stamp = stamp or loaded_stamp(number)
    mail = mail if mail is not None else f"{uid(number)}@bulk.test"
    lines = [f"dn: {person_dn(number)}", f"uid: {uid(number)}", f"givenName: {given}",
             f"cn: {given} {family or ''}".strip()]
    if family is None:
        lines += ["objectClass: account", "objectClass: extensibleObject"]
    else:
        lines += ["objectClass: inetOrgPerson", f"sn: {family}"]
    if mail:
        lines.append(f"mail: {mail}")
    lines += [f"createTimestamp: {stamp}", f"modifyTimestamp: {stamp}"]
    return "\n".join(lines) + "\n"


def _ldif(people: int, groups: int) -> str:
    stamp = f"createTimestamp: {LOADED_AT}\nmodifyTimestamp: {LOADED_AT}\n"
    entries = [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: bulk\no: Bulk\n"
        + stamp,
        f"dn: {PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n" + stamp,
        f"dn: {GROUPS_DN}\nobjectClass: organizationalUnit\nou: groups\n" + stamp,
        f"dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services\n" + stamp,
        f"dn: {SERVICE_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: sync\n"
        f"sn: service\nuserPassword: {SERVICE_PASSWORD}\n" + stamp,
    ]
    entries += [person_ldif(n) for n in range(people)]
    for g in range(groups):
        members = "".join(f"member: {person_dn(n)}\n" for n in group_members(g, groups, people))
        entries.append(f"dn: cn={group_name(g)},{GROUPS_DN}\nobjectClass: groupOfNames\n"
                       f"cn: {group_name(g)}\ndescription: Team {g}\n{members}{stamp}")
    return "\n".join(entries)


def _conf(root: Path) -> str:
    schemas = "\n".join(f"include {SCHEMA_DIR / n}.schema"
                        for n in ("core", "cosine", "nis", "inetorgperson"))
    # The size limit applies to the service account (the root DN is exempt); a paged
    # search may return everything, page by page.
    return f"""\
{schemas}
modulepath {MODULE_DIR}
moduleload back_mdb.la
pidfile {root}/slapd.pid
sizelimit size.soft={SIZE_LIMIT} size.hard={SIZE_LIMIT} size.prtotal=unlimited

database config
rootdn "{ROOT_DN}"

database mdb
maxsize 268435456
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {root}/data
index objectClass,uid,mail,entryUUID eq
"""


@dataclass(frozen=True)
class BulkSlapd:
    """A running slapd full of people: where it listens and how to change it."""

    root: Path
    port: int
    process: subprocess.Popen
    people: int
    groups: int

    host = "127.0.0.1"
    base_dn = BASE_DN
    people_dn = PEOPLE_DN
    groups_dn = GROUPS_DN
    service_dn = SERVICE_DN
    service_password = SERVICE_PASSWORD

    @property
    def url(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    def admin(self) -> ldap.ldapobject.LDAPObject:
        """A connection bound as the directory manager, to change entries in a test."""
        conn = ldap.initialize(self.url)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def service(self) -> ldap.ldapobject.LDAPObject:
        """A connection bound as the account Keystead uses (held to the size limit)."""
        conn = ldap.initialize(self.url)
        conn.simple_bind_s(SERVICE_DN, SERVICE_PASSWORD)
        return conn

    def add_person(self, number: int, *, given: str | None = None,
                   family: str = "Person", mail: str | None = None) -> None:
        """Add an inetOrgPerson through the protocol (so it gets a fresh change stamp)."""
        given = given or f"Given{number}"
        entry = {"objectClass": [b"inetOrgPerson"], "uid": [uid(number).encode()],
                 "givenName": [given.encode()], "sn": [family.encode()],
                 "cn": [f"{given} {family}".encode()],
                 "mail": [(mail or f"{uid(number)}@bulk.test").encode()]}
        conn = self.admin()
        try:
            conn.add_s(person_dn(number), ldap.modlist.addModlist(entry))
        finally:
            conn.unbind_s()

    def modify(self, dn: str, **attributes: str) -> None:
        conn = self.admin()
        try:
            conn.modify_s(dn, [(ldap.MOD_REPLACE, name, [value.encode()])
                               for name, value in attributes.items()])
        finally:
            conn.unbind_s()

    def delete(self, dn: str) -> None:
        conn = self.admin()
        try:
            conn.delete_s(dn)
        finally:
            conn.unbind_s()

    def entry_uuid(self, dn: str) -> str:
        conn = self.admin()
        try:
            ((_, entry),) = conn.search_s(dn, ldap.SCOPE_BASE, attrlist=["entryUUID"])
        finally:
            conn.unbind_s()
        return entry["entryUUID"][0].decode()


def start_bulk_slapd(people: int, groups: int, *, extra_ldif: str = "") -> BulkSlapd:
    """Load ``people`` people and ``groups`` groups (plus ``extra_ldif``) and start slapd
    on a free loopback port; the caller must call :func:`stop_bulk_slapd`."""
    root = Path(tempfile.mkdtemp(prefix="keystead-bulk-slapd-"))
    try:
        port = free_port()
        url = f"ldap://127.0.0.1:{port}/"
        process = launch(root, _conf(root), _ldif(people, groups) + "\n" + extra_ldif, url,
                         answer_url=url, base_dn=BASE_DN, quick=True)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return BulkSlapd(root=root, port=port, process=process, people=people, groups=groups)


def stop_bulk_slapd(server: BulkSlapd) -> None:
    stop_process(server.process, server.root)
