"""Changing LDAP sources and recording their tests: superusers only, validated, audited.

The console (and any later door) calls these, so the rules hold everywhere:
every field is checked at once and reported by name with the fix, nothing
is written unless all pass, and every change or test leaves an audit event
that never holds the bind password or a tested person's password.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import ldap.dn
from cryptography import x509
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit, authorization
from keystead.directory.models import Outcome, User
from keystead.secret import Secret
from keystead.sources.ldap.connection import Method, Step, host_name_valid
from keystead.sources.ldap.models import Kind, LdapSource, Mode

#: The fields the console edits (the bind password goes apart: it is write-only).
EDITABLE = ("name", "enabled", "kind", "mode", "host", "port", "method", "ca_certificate",
            "base_dn", "user_key", "user_filter", "bind_dn", "connect_timeout",
            "operation_timeout", "unique_id_attribute", "email_attribute",
            "given_name_attribute", "family_name_attribute", "username_attribute",
            "group_base_dn", "group_filter", "group_member_attribute", "sync_interval_minutes")
#: A change to any of these means the last test no longer says anything.
CONNECTION_FIELDS = frozenset({"kind", "host", "port", "method", "ca_certificate", "base_dn",
                               "user_key", "user_filter", "bind_dn"})
ATTRIBUTES = ("user_key", "unique_id_attribute", "email_attribute", "given_name_attribute",
              "family_name_attribute", "username_attribute", "group_member_attribute")
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$")
KEEP = object()  # the bind password stays as it is
EVENT = "ldap_source.change"
NEEDS_NEW_TEST = "The settings changed since the last test: run Test connection again."


class SourceRefused(ValueError):
    """Bad input; ``problems`` maps each field to a message that says how to fix it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


def _dn_problem(value: str, label: str, example: str) -> str | None:
    if value and not ldap.dn.is_dn(value):
        return f"{label} {value!r} is not a valid DN. Write it like {example}."
    return None


def _filter_problem(value: str, label: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if not (value.startswith("(") and value.endswith(")")) or depth != 0:
        return (f"{label} {value!r} is not an LDAP filter: it must be enclosed in balanced "
                "parentheses, like (objectClass=inetOrgPerson).")
    return None


def _ca_problem(pem: str) -> str | None:
    if not pem.strip():
        return None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        return ("CA certificate is not PEM: paste the certificate including its "
                "-----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines.")
    try:
        x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return ("CA certificate could not be read as a PEM certificate: check that it was "
                "pasted whole (BEGIN/END lines with five dashes, base64 between).")
    return None


def _number_problem(value: Any, label: str, low: float, high: float) -> str | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f"{label} must be a number between {low:g} and {high:g}."
    if not low <= number <= high:
        return f"{label} must be between {low:g} and {high:g}; {value} is not."
    return None


def problems(values: dict[str, Any], *, exclude_pk: int | None = None,
             setting_password: bool = False) -> dict[str, str]:
    """Every problem with ``values`` (all ``EDITABLE`` fields), by field."""
    found: dict[str, str | None] = {}
    name = (values.get("name") or "").strip()
    others = LdapSource.objects.exclude(pk=exclude_pk) if exclude_pk else LdapSource.objects
    if not name:
        found["name"] = "Name is required: it names the source in the console and the log."
    elif others.filter(name=name).exists():
        found["name"] = f"Another LDAP source is called {name!r}; choose another name."
    host = (values.get("host") or "").strip()
    if not host:
        found["host"] = "Server address is required, e.g. ldap.example.org."
    elif "://" in host or "/" in host or " " in host:
        found["host"] = (f"Server address {host!r} must be a name or address only, e.g. "
                         "ldap.example.org: choose LDAPS or StartTLS under Method, not in the "
                         "address.")
    elif not host_name_valid(host):
        found["host"] = (f"Server address {host!r} is not a valid host name: each part "
                         "between dots must be 1 to 63 characters, e.g. ldap.example.org, "
                         "or give an IP address.")
    port = values.get("port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        found["port"] = (f"Port must be a whole number from 1 to 65535 (usually 389, or 636 "
                         f"for LDAPS); {port!r} is not.")
    for field, choices in (("kind", Kind.values), ("mode", Mode.values),
                           ("method", [m.value for m in Method])):
        if values.get(field) not in choices:
            found[field] = f"{field.capitalize()} must be one of: {', '.join(choices)}."
    if not (values.get("base_dn") or "").strip():
        found["base_dn"] = "Base DN is required, e.g. ou=people,dc=example,dc=org."
    found["base_dn"] = found.get("base_dn") or _dn_problem(
        (values.get("base_dn") or "").strip(), "Base DN", "ou=people,dc=example,dc=org")
    found["bind_dn"] = _dn_problem((values.get("bind_dn") or "").strip(), "Service bind DN",
                                   "cn=keystead,ou=services,dc=example,dc=org")
    found["group_base_dn"] = _dn_problem((values.get("group_base_dn") or "").strip(),
                                         "Group base DN", "ou=groups,dc=example,dc=org")
    found["ca_certificate"] = _ca_problem(values.get("ca_certificate") or "")
    found["user_filter"] = _filter_problem(values.get("user_filter") or "", "User filter")
    found["group_filter"] = _filter_problem(values.get("group_filter") or "", "Group filter")
    for field in ATTRIBUTES:
        value = (values.get(field) or "").strip()
        if (value or field not in ("username_attribute",)) and not _ATTRIBUTE.match(value):
            label = field.replace("_", " ").capitalize()
            found[field] = (f"{label} {value!r} is not an attribute name: use letters, digits "
                            "and hyphens, e.g. uid, mail, sAMAccountName.")
    for field, label, high in (("connect_timeout", "Connect timeout", 120),
                               ("operation_timeout", "Operation timeout", 300)):
        found[field] = _number_problem(values.get(field), label, 0.1, high)
    if values.get("enabled"):
        enabled = others.filter(enabled=True).first()
        if enabled is not None:
            found["enabled"] = (f"The LDAP source {enabled.name!r} is enabled; only one source "
                                "can be. Disable it first, or save this one disabled.")
    if (values.get("kind") == Kind.ACTIVE_DIRECTORY and values.get("mode") == Mode.WRITABLE
            and values.get("method") == Method.PLAIN):
        found["method"] = ("Active Directory accepts password changes only over an encrypted "
                           "connection: choose LDAPS or StartTLS for the writable mode.")
    if setting_password and not (values.get("bind_dn") or "").strip():
        found["bind_password"] = ("A bind password needs a service bind DN: fill in the DN "
                                  "or leave the password empty.")
    return {field: text for field, text in found.items() if text}


def save_source(source: LdapSource | None, values: dict[str, Any], *, actor: User,
                bind_password: Secret | object | None = KEEP,
                request: HttpRequest | None = None) -> LdapSource:
    """Create (``source`` None) or change a source with ``values`` (every ``EDITABLE``
    field). ``bind_password``: ``KEEP``, a new ``Secret``, or None to remove it.
    Audited as ``ldap_source.change``; a change of connection settings clears the
    last test, so the LDAP strategy waits for a new passing one."""
    authorization.require_installation_setting(
        actor, event=EVENT, words="change LDAP sources", request=request,
        detail={"source": source.name if source else values.get("name", "")})
    values = {field: values.get(field) for field in EDITABLE}
    for field, value in values.items():
        if isinstance(value, str):
            values[field] = value.strip()
    setting = isinstance(bind_password, Secret) and bool(bind_password.reveal())
    found = problems(values, exclude_pk=source.pk if source else None,
                     setting_password=setting)
    if found:
        raise SourceRefused(found)
    with transaction.atomic():
        row = (LdapSource.objects.select_for_update().get(pk=source.pk) if source and source.pk
               else LdapSource())
        created = row.pk is None
        changed = [f for f in EDITABLE if created or _same(getattr(row, f)) != values[f]]
        for field in EDITABLE:
            setattr(row, field, values[field])
        detail: dict[str, Any] = {"source": values["name"], "created": created}
        if setting or (bind_password is None and row.bind_password_encrypted):
            row.set_bind_password(bind_password if setting else None)  # type: ignore[arg-type]
            detail["service_bind"] = "new password" if setting else "password removed"
            changed.append("bind_password")
        if not changed:
            return row
        if CONNECTION_FIELDS.intersection(changed) or "bind_password" in changed:
            row.last_test_ok = False
            row.last_test_message = NEEDS_NEW_TEST
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            raise SourceRefused({"enabled": "Another LDAP source was enabled or named the same "
                                            "at the same moment; reload and try again."}
                                ) from None
        detail["changed"] = sorted(changed)
        audit.record(EVENT, request=request, actor=actor, target=row, detail=detail)
    return row


def _same(value: Any) -> Any:
    """A stored value as the form gives it back (text without surrounding blanks)."""
    return value.strip() if isinstance(value, str) else value


def delete_source(source: LdapSource, *, actor: User, request: HttpRequest | None = None) -> None:
    authorization.require_installation_setting(actor, event="ldap_source.delete",
                                               words="delete LDAP sources", request=request)
    with transaction.atomic():
        audit.record("ldap_source.delete", request=request, actor=actor, target=source,
                     detail={"source": source.name})
        source.delete()


def record_test(source: LdapSource, steps: Sequence[Step], *, what: str, actor: User,
                username: str = "", request: HttpRequest | None = None) -> bool:
    """Keep the outcome of a console test on the source (``last_test_*``, read by the
    LDAP strategy's readiness) and audit it as ``ldap_source.test``. True if it passed.

    Written with an UPDATE, so ``updated_at`` (the pool's key) does not move."""
    authorization.require_installation_setting(actor, event="ldap_source.test",
                                               words="test LDAP sources", request=request)
    passed = bool(steps) and all(step.ok for step in steps)
    last = steps[-1] if steps else Step("Test", False, "Nothing was checked.")
    summary = (f"{what.capitalize()} test passed: {last.message}" if passed
               else f"{what.capitalize()} test failed at {last.name}: {last.message}")
    now = timezone.now()
    LdapSource.objects.filter(pk=source.pk).update(last_test_at=now, last_test_ok=passed,
                                                   last_test_message=summary)
    source.last_test_at, source.last_test_ok, source.last_test_message = now, passed, summary
    detail: dict[str, Any] = {"source": source.name, "test": what,
                              "steps": [f"{s.name}: {'ok' if s.ok else 'failed'}" for s in steps],
                              "message": last.message}
    if username:
        detail["username"] = username
    audit.record("ldap_source.test", request=request, actor=actor, target=source,
                 outcome=Outcome.SUCCESS if passed else Outcome.FAILURE, detail=detail)
    return passed
