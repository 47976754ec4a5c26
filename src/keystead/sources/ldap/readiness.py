"""Whether the LDAP login strategy may be chosen: the one answer
``policy.strategies`` asks for."""

from __future__ import annotations

NO_LDAP = "LDAP sign-in is not configured yet: add an LDAP source first."


def missing() -> str | None:
    """What is missing before the whole installation may sign in through LDAP."""
    from keystead.sources.ldap.models import LdapSource

    source = LdapSource.active()
    if source is None:
        return NO_LDAP
    if not source.last_test_ok:
        return (f"The LDAP source {source.name!r} has not passed its test: open it in the "
                "console and run Test connection until it passes.")
    return None
