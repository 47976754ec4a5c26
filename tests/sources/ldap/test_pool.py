"""The service-account pool: bounded, shared safely between threads, and never lending a
connection that failed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import ldap
import pytest

from keystead.secret import Secret
from keystead.sources.ldap.connection import ConnectionSettings, Method
from keystead.sources.ldap.pool import Pool

from .slapd import PEOPLE_DN, Slapd


def settings(slapd: Slapd) -> ConnectionSettings:
    return ConnectionSettings(host=slapd.host, port=slapd.ldap_port, method=Method.STARTTLS,
                              base_dn=PEOPLE_DN, ca_pem=slapd.ca_pem, bind_dn=slapd.service_dn,
                              bind_password=Secret(slapd.service_password),
                              connect_timeout=3, operation_timeout=5)


def whoami(conn) -> str:
    return conn.whoami_s()


def test_threads_share_at_most_size_connections(slapd: Slapd) -> None:
    pool = Pool(settings(slapd), size=2)
    in_use, most, lock = set(), [0], threading.Lock()

    def search(_: int) -> str:
        def operation(conn) -> str:
            with lock:
                in_use.add(id(conn))
                most[0] = max(most[0], len(in_use))
            try:
                conn.search_s(PEOPLE_DN, ldap.SCOPE_ONELEVEL, "(uid=ada)", ["1.1"])
                return whoami(conn)
            finally:
                with lock:
                    in_use.discard(id(conn))
        return pool.run(operation)

    with ThreadPoolExecutor(max_workers=6) as workers:
        answers = list(workers.map(search, range(30)))
    pool.close()
    assert set(answers) == {f"dn:{slapd.service_dn}"}  # always bound as the service account
    assert most[0] <= 2 and pool.idle_count == 0


def test_only_a_connection_in_doubt_is_dropped(slapd: Slapd) -> None:
    pool = Pool(settings(slapd), size=1)
    lent = []

    def raising(error: type[ldap.LDAPError]):
        def operation(conn):
            lent.append(conn)
            raise error({"desc": "test"})
        return operation

    with pytest.raises(ldap.NO_SUCH_OBJECT):  # an answer about the request: kept
        pool.run(raising(ldap.NO_SUCH_OBJECT))
    with pytest.raises(ldap.TIMEOUT):  # the connection's state is unknown: dropped
        pool.run(raising(ldap.TIMEOUT))
    pool.run(lent.append)
    assert lent[1] is lent[0] and lent[2] is not lent[0]
    assert pool.idle_count == 1
    pool.close()
