"""Reading a directory page by page, and the filters that ask only for what changed.

A sync must read 100,000 entries without holding them all and without
tripping the server's size limit (Active Directory's MaxPageSize is 1,000,
OpenLDAP's default size limit 500): the Simple Paged Results control
(RFC 2696) asks for one page at a time, and each page is handed over before
the next one is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import ldap
import ldap.dn
from ldap.controls import SimplePagedResultsControl
from ldap.filter import escape_filter_chars

from keystead.sources.ldap.mapping import Entry

PAGE_SIZE = 500

#: The attribute each server family stamps on every change, usable in ``>=`` filters.
CHANGE_ATTRIBUTES = {"openldap": "modifyTimestamp", "active_directory": "uSNChanged"}


def change_attribute(kind: str) -> str:
    return CHANGE_ATTRIBUTES[kind]


def _wrapped(filter_text: str) -> str:
    """An operator's filter with its outer parentheses, which people often leave out."""
    text = filter_text.strip()
    return text if text.startswith("(") else f"({text})"


def search_filter(*parts: str, change_attr: str = "", since: str = "") -> str:
    """The AND of ``parts`` (empty ones left out), limited to entries changed at or
    after ``since`` when it is given."""
    terms = [_wrapped(p) for p in parts if p and p.strip()]
    if since:
        terms.append(f"({change_attr}>={escape_filter_chars(since)})")
    if len(terms) == 1:
        return terms[0]
    return "(&" + "".join(terms) + ")"


def later(kind: str, a: str, b: str) -> str:
    """The later of two change stamps (empty counts as earliest).

    uSNChanged is a number; OpenLDAP's GeneralizedTime stamps have one fixed
    form (``YYYYmmddHHMMSSZ``, or with ``.ffffffZ``), so text order is time order.
    """
    if not a or not b:
        return a or b
    if kind == "active_directory":
        return a if int(a) >= int(b) else b
    return max(a, b)


#: How far the directory's clock may run behind Keystead's (Kerberos allows as much).
CLOCK_MARGIN = timedelta(minutes=5)


def next_cursor(kind: str, since: str, highest: str, started_at: datetime,
                committed: str = "") -> str:
    """Where the next incremental pass starts reading.

    Not simply the latest stamp this pass read: an entry changed while the pass ran,
    after its page was read, gets a stamp below that of entries read later, and a
    cursor past it would never read the change. So, for Active Directory, the highest
    change number the server had committed when the pass began (``committed``, read
    first); for OpenLDAP, the moment the pass began less ``CLOCK_MARGIN`` in the
    directory's form, or the latest stamp read if that is earlier. Never before
    ``since``; a later pass reading an entry again changes nothing.
    """
    if kind == "active_directory":
        return later(kind, since, committed or highest)
    if not highest:
        return since
    form = "%Y%m%d%H%M%S.%fZ" if "." in highest else "%Y%m%d%H%M%SZ"
    began = (started_at - CLOCK_MARGIN).astimezone(UTC).strftime(form)
    return later(kind, since, min(highest, began))


def paged_search(conn: ldap.ldapobject.LDAPObject, base: str, filter_text: str,
                 attributes: list[str], *, page_size: int = PAGE_SIZE,
                 timeout: float = -1) -> Iterator[list[tuple[str, Entry]]]:
    """Yield the entries under ``base`` matching ``filter_text``, one page at a time.

    The control is marked critical: a server that cannot page refuses the search
    (``UNAVAILABLE_CRITICAL_EXTENSION``) instead of silently returning one
    truncated answer. Referrals (no DN) are left out.
    """
    control = SimplePagedResultsControl(True, size=page_size, cookie=b"")
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filter_text, attributes,
                                serverctrls=[control])
        _, data, _, controls = conn.result3(msgid, timeout=timeout)
        yield [(dn, entry) for dn, entry in data if dn and isinstance(entry, dict)]
        cookie = next((c.cookie for c in controls
                       if c.controlType == SimplePagedResultsControl.controlType), b"")
        if not cookie:
            return
        control.cookie = cookie


def normal_dn(dn: str) -> str:
    """A DN in one form for comparison: attribute names and values lower-cased, no
    spaces around separators. Member values written differently still match."""
    try:
        return ldap.dn.dn2str(ldap.dn.str2dn(dn.strip(), flags=ldap.DN_FORMAT_LDAPV3)).lower()
    except ldap.DECODING_ERROR:
        return dn.strip().lower()
