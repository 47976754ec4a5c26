"""Synchronising people from Samba's Active Directory: the incremental pass starts at the
change number the server had committed when the pass before began."""

from __future__ import annotations

import ldap
import pytest

from keystead.directory.models import User
from keystead.sources.ldap.sync import run_sync

from .samba import Samba

pytestmark = pytest.mark.slow


def _committed(conn) -> int:
    found = conn.search_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["highestCommittedUSN"])
    return int(found[0][1]["highestCommittedUSN"][0])


@pytest.mark.django_db
def test_an_incremental_pass_reads_what_changed_after_the_pass_before_began(
        samba: Samba, ad_source) -> None:
    source = ad_source()
    admin = samba.admin()
    dn = samba.dn("syncprobe")
    admin.add_s(dn, [("objectClass", [b"user"]), ("sAMAccountName", [b"syncprobe"]),
                     ("givenName", [b"Sync"]), ("sn", [b"Probe"]),
                     ("mail", [b"syncprobe@keystead.test"])])
    try:
        before = _committed(admin)
        assert run_sync(source, full=True).ok
        source.refresh_from_db()
        assert before <= int(source.sync_cursor) <= _committed(admin)
        assert User.objects.get(username="syncprobe").family_name == "Probe"

        admin.modify_s(dn, [(ldap.MOD_REPLACE, "sn", [b"Changed"])])
        second = run_sync(source, full=False)
        assert second.ok and second.counts["updated"] >= 1
        assert User.objects.get(username="syncprobe").family_name == "Changed"
        assert second.counts["seen"] < User.objects.count()  # only what changed was read
    finally:
        admin.delete_s(dn)
        admin.unbind_s()
