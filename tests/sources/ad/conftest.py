"""Fixtures for the Active Directory tests: one Samba AD DC for the test run.

The DC's address and ports are fixed, so every test process of the run
(each xdist worker) shares the same server (``samba.shared_samba``). The
tests are in the ``samba`` xdist group as well, and each changes only the
people it owns, so sharing is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from keystead.secret import Secret
from keystead.sources.ldap import pool
from keystead.sources.ldap.models import Kind, LdapSource

from ..ldap.helpers import use_strategy
from .samba import Samba, shared_samba


@pytest.fixture(scope="session")
def samba() -> Iterator[Samba]:
    with shared_samba() as server:
        yield server


@pytest.fixture
def ad_source(samba: Samba) -> Iterator[Callable[..., LdapSource]]:
    """Make the enabled AD source (its test marked as passed) and switch the strategy to
    LDAP; ``fields`` choose the port, method, mode. The connection pools close afterwards,
    so no test reuses another's connection."""
    def make(**fields) -> LdapSource:
        use_strategy("ldap")
        made = LdapSource(name="Samba AD", kind=Kind.ACTIVE_DIRECTORY, host=samba.host,
                          ca_certificate=samba.ca_pem, base_dn=samba.base_dn,
                          user_key="sAMAccountName", bind_dn=samba.service_dn,
                          unique_id_attribute="objectGUID",
                          username_attribute="sAMAccountName", connect_timeout=3,
                          operation_timeout=5, last_test_ok=True, **fields)
        made.set_bind_password(Secret(samba.service_password))
        made.save()
        return made

    yield make
    pool.close_all()
