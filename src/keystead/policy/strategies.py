"""What each sign-in strategy needs before an administrator may choose it.

``strategy_prerequisites`` is the one place every door (console, API,
``keystead policy set``) asks; it returns what is missing, in words that say
how to fix it. The LDAP and SAML sign-in sources answer for their own
strategy (their ``readiness`` modules).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from keystead.policy.models import Strategy

#: Mail backends that deliver a message somewhere a person or a test can read it.
#: The console backend (development) only prints, so it does not count.
DELIVERING_BACKENDS = (
    "django.core.mail.backends.smtp.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
)

NO_MAIL = ("No mail server: set KEYSTEAD_EMAIL_URL=smtp://… so sign-in codes can be sent "
           "(codes by email are the second factor everyone can use).")


def mail_can_be_sent() -> bool:
    """Whether a mail server is configured (or a test captures mail)."""
    return bool(getattr(settings, "EMAIL_CONFIGURED", False)) or (
        settings.EMAIL_BACKEND in DELIVERING_BACKENDS)


def _mail() -> str | None:
    return None if mail_can_be_sent() else NO_MAIL


def _ldap() -> str | None:
    from keystead.sources.ldap.readiness import missing

    return missing()


def _saml() -> str | None:
    from keystead.sources.saml.readiness import missing

    return missing()


#: strategy -> checks; each check returns what is missing, or None.
CHECKS: dict[str, list[Callable[[], str | None]]] = {
    Strategy.PASSWORD: [],
    Strategy.PASSWORD_AND_SECOND_FACTOR: [_mail],
    Strategy.LDAP: [_ldap],
    Strategy.SAML: [_saml],
}


def strategy_prerequisites(strategy: str) -> list[str]:
    """What is missing before ``strategy`` can be used; empty when it can."""
    if strategy not in CHECKS:
        known = ", ".join(str(s) for s in Strategy.values)
        return [f"Unknown login strategy {strategy!r}; choose one of: {known}."]
    return [problem for check in CHECKS[strategy] if (problem := check()) is not None]
