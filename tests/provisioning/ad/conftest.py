"""The Samba AD DC of the source tests (``tests/sources/ad``), shared with provisioning.

The DC's address and ports are fixed, so there is one per test run; these
tests are in the same ``samba`` xdist group and write only under an OU of
their own, which each test removes again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import ldap
import pytest

from keystead.provisioning.connectors.ad import ActiveDirectoryConnector
from keystead.secret import Secret
from sources.ad.samba import Samba, shared_samba


@pytest.fixture(scope="session")
def samba() -> Iterator[Samba]:
    with shared_samba() as server:
        yield server


@pytest.fixture
def ad_ou(samba: Samba) -> Iterator[str]:
    """A fresh organizational unit for one test's accounts, deleted with them afterwards."""
    name = f"prov-{uuid.uuid4().hex[:8]}"
    dn = f"OU={name},{samba.base_dn}"
    admin = samba.admin()
    admin.add_s(dn, [("objectClass", [b"organizationalUnit"]), ("ou", [name.encode()])])
    try:
        yield dn
    finally:
        for child, _ in admin.search_s(dn, ldap.SCOPE_ONELEVEL, attrlist=["1.1"]):
            if child:
                admin.delete_s(child)
        admin.delete_s(dn)
        admin.unbind_s()


@pytest.fixture
def ad_settings(samba: Samba, ad_ou: str) -> dict:
    return {"url": f"ldaps://{samba.host}:{samba.ldaps_port}", "ca_pem": samba.ca_pem,
            "bind_dn": samba.admin_dn, "base_dn": ad_ou, "upn_suffix": samba.upn_suffix,
            "timeout": 10}


@pytest.fixture
def ad(ad_settings: dict, samba: Samba) -> Iterator[ActiveDirectoryConnector]:
    connector = ActiveDirectoryConnector(ad_settings,
                                         {"bind_password": Secret(samba.admin_password)})
    try:
        yield connector
    finally:
        connector.close()
