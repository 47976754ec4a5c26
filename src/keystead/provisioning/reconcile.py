"""Preview and reconciliation: compare what Keystead wants on a system with what is there.

``preview`` reads each of Keystead's accounts on the target and says what
sending the wanted state would create, change (attribute by attribute) or
delete; it sends nothing. ``reconcile`` also lists every account on the
target, so it finds accounts that exist only there; ``apply`` queues the
fixes through the ordinary queue (so flags, order and audit apply as for any
operation).

What Keystead wants comes from one function, ``wanted_accounts``: for an
account that belongs to a person on a system with a mapping, the mapping
engine's values for that person now (``mapping.values_for`` with no
password), so a change in the directory that was never sent shows up as a
difference; for any other account (no person, no mapping) the attributes
last sent, folded from its operations (archived, then still open). A mapping
script that fails stops the run with ``MappingError`` naming the system and
the attribute. Other sources plug in through ``WantedSource``.

``reconcile`` records its outcome on the system (``last_reconciled_at``,
``last_reconciliation``: counts, fixes queued, the accounts that differed
with attribute names only), which the system's console page shows.

Passwords are never read, compared or shown: a pending password is reported
as "password: would be set", and a password cannot be restored by a fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from keystead.directory.models import User
from keystead.provisioning.connectors import Connector, connector_for
from keystead.provisioning.connectors.base import ENABLE, NAME, PASSWORD, RENAMED_FROM
from keystead.provisioning.models import (
    AccountState,
    ArchivedOperation,
    Kind,
    Operation,
    State,
    System,
    SystemAccount,
)

CREATE, CHANGE, DELETE, SAME, ONLY_ON_TARGET = (
    "create", "change", "delete", "same", "only on target")
#: Never compared: a password is unreadable, enable has a different form on each target.
_SKIPPED = frozenset({PASSWORD, ENABLE})


@dataclass(frozen=True)
class Wanted:
    """One account as Keystead wants it on the target: present with attributes, or absent."""

    name: str
    attributes: dict[str, Any]
    present: bool = True
    password_pending: bool = False


WantedSource = Callable[[System], Iterable[Wanted]]


@dataclass(frozen=True)
class Difference:
    attribute: str
    target: list[str]
    wanted: list[str]


@dataclass
class Finding:
    """What a system needs for one account."""

    name: str
    action: str
    differences: list[Difference] = field(default_factory=list)
    password_pending: bool = False
    wanted: Wanted | None = None


@dataclass
class Report:
    system: str
    findings: list[Finding] = field(default_factory=list)
    queued: int = 0
    #: Fixes ``apply`` left out: Keystead's wish for those accounts changed after the scan.
    changed_meanwhile: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for finding in self.findings if finding.action == action)

    @property
    def actionable(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.action != SAME]


def wanted_accounts(system: System) -> Iterator[Wanted]:
    """Keystead's accounts on ``system`` as the mapping says now (people's accounts on a
    mapped system), else as last sent."""
    from keystead.provisioning import mapping

    mapped = not mapping.is_unmapped(system)
    people = dict(SystemAccount.objects.filter(system=system, person__isnull=False)
                  .exclude(state=AccountState.DELETED).values_list("name", "person_id"))
    persons = ({person.pk: person for person in User.objects.filter(pk__in=people.values())}
               if mapped else {})
    for item in last_sent_accounts(system):
        person = persons.get(people.get(item.name, -1))
        if person is None or not item.present:
            yield item
            continue
        values = mapping.values_for(system, person, None)
        yield Wanted(name=item.name, attributes=values.attributes, present=True,
                     password_pending=item.password_pending)


def last_sent_accounts(system: System) -> Iterator[Wanted]:
    """Keystead's accounts on ``system`` with the attributes last sent (archive, then queue).

    A delete makes the account absent; a later operation brings it back. An open
    operation with a password makes the password pending. A rename (``__NAME__``;
    executed, it is archived under the new name with ``__RENAMED_FROM__``) carries
    what was sent under the old name over to the new one.
    """
    folded: dict[str, dict[str, Any]] = {}
    present: dict[str, bool] = {}
    pending: set[str] = set()
    archived = (ArchivedOperation.objects.filter(system=system, state=State.EXECUTED)
                .order_by("operation_id").values_list("account_name", "kind", "attributes"))
    open_ = (Operation.objects.filter(system=system).exclude(state=State.CANCELLED)
             .order_by("id").values_list("account_name", "kind", "attributes",
                                         "password_encrypted"))
    rows = [(name, kind, attrs, "") for name, kind, attrs in archived.iterator()]
    rows += list(open_.iterator())
    for name, kind, attrs, password in rows:
        attrs = dict(attrs or {})
        former, new_name = attrs.pop(RENAMED_FROM, name), attrs.pop(NAME, None)
        if new_name and new_name != former:  # a rename: the account's history moves along
            folded[new_name] = folded.pop(former, {})
            present[new_name] = present.pop(former, True)
            if former in pending:
                pending.discard(former)
                pending.add(new_name)
            name = new_name
        if kind == Kind.DELETE:
            folded[name], present[name] = {}, False
            pending.discard(name)
            continue
        folded.setdefault(name, {}).update(attrs or {})
        present[name] = True
        if password:
            pending.add(name)
    accounts = SystemAccount.objects.filter(system=system).values_list("name", "state")
    for name, state in accounts.iterator():
        folded.setdefault(name, {})
        if state == AccountState.DELETED:
            present[name] = False
        else:
            present.setdefault(name, True)
    for name in sorted(folded):
        yield Wanted(name=name, attributes=folded[name], present=present.get(name, True),
                     password_pending=name in pending)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return sorted("TRUE" if item is True else "FALSE" if item is False else str(item)
                  for item in items if item is not None and item != "")


def _flatten(attributes: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """SCIM's nested objects as ``name.givenName`` paths, as the attributes name them."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}." if not key.startswith("urn:")
                                else f"{key}:"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def compare(wanted: Wanted, target: Mapping[str, Any] | None) -> Finding:
    """The action and the attribute differences for one account."""
    if not wanted.present:
        return Finding(wanted.name, DELETE if target is not None else SAME, wanted=wanted)
    if target is None:
        differences = [Difference(key, [], _as_list(value))
                       for key, value in sorted(wanted.attributes.items())
                       if key not in _SKIPPED and _as_list(value)]
        return Finding(wanted.name, CREATE, differences, wanted.password_pending, wanted)
    there = {key.lower(): value for key, value in _flatten(target).items()}
    differences = []
    for key, value in sorted(wanted.attributes.items()):
        if key in _SKIPPED:
            continue
        have, want = _as_list(there.get(key.lower())), _as_list(value)
        if have != want:
            differences.append(Difference(key, have, want))
    action = CHANGE if differences or wanted.password_pending else SAME
    return Finding(wanted.name, action, differences, wanted.password_pending, wanted)


Progress = Callable[[int], None]


def _noop(_: int) -> None:
    return None


def preview(system: System, *, source: WantedSource = wanted_accounts,
            connector: Connector | None = None, progress: Progress = _noop) -> Report:
    """What sending Keystead's wanted state would do to each of its accounts; sends nothing."""
    own = connector is None
    connector = connector or connector_for(system)
    report = Report(system.name)
    try:
        for wanted in source(system):
            report.findings.append(compare(wanted, connector.read(wanted.name)))
            progress(1)
    finally:
        if own:
            connector.close()
    return report


def reconcile(system: System, *, source: WantedSource = wanted_accounts,
              connector: Connector | None = None, progress: Progress = _noop) -> Report:
    """Every account on the target against Keystead's: those that differ, are missing,
    or exist only on the target. Sends nothing."""
    own = connector is None
    connector = connector or connector_for(system)
    report = Report(system.name)
    try:
        wanted = {item.name.lower(): item for item in source(system)}
        seen: set[str] = set()
        for name, attributes in connector.accounts():
            key = name.lower()
            seen.add(key)
            item = wanted.get(key)
            if item is None:
                report.findings.append(Finding(name, ONLY_ON_TARGET))
            else:
                finding = compare(Wanted(item.name, item.attributes, item.present), attributes)
                report.findings.append(finding)
            progress(1)
        for key, item in wanted.items():
            if key not in seen and item.present:
                report.findings.append(compare(Wanted(item.name, item.attributes), None))
                progress(1)
    finally:
        if own:
            connector.close()
    report.findings.sort(key=lambda finding: finding.name.lower())
    record(report, system)
    return report


#: How many differing accounts the summary on the system keeps.
SUMMARY_ACCOUNTS = 20


def summary(report: Report) -> dict[str, Any]:
    """The counts by action, the fixes queued, and the first accounts that differ with
    the names of the attributes that differ (never values: they may be personal)."""
    differing = [{"account": finding.name, "action": finding.action,
                  "attributes": [d.attribute for d in finding.differences]}
                 for finding in report.actionable]
    return {"counts": {action: report.count(action)
                       for action in (CREATE, CHANGE, DELETE, ONLY_ON_TARGET, SAME)},
            "queued": report.queued, "accounts": differing[:SUMMARY_ACCOUNTS],
            "more_accounts": max(0, len(differing) - SUMMARY_ACCOUNTS)}


def record(report: Report, system: System) -> None:
    """Keep ``report``'s summary on the system as its last reconciliation."""
    now = timezone.now()
    System.objects.filter(pk=system.pk).update(last_reconciled_at=now,
                                               last_reconciliation=summary(report))
    system.last_reconciled_at, system.last_reconciliation = now, summary(report)


def fixes(report: Report, *, delete_only_on_target: bool = False
          ) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The operations that make the target what Keystead wants: (name, kind, attributes).

    Accounts only on the target are deleted only when asked: they may be
    someone else's on a shared system.
    """
    for finding in report.findings:
        wanted = finding.wanted
        if finding.action == CREATE and wanted is not None:
            yield finding.name, Kind.CREATE, dict(wanted.attributes)
        elif finding.action == CHANGE and finding.differences:
            yield finding.name, Kind.UPDATE, {d.attribute: (wanted.attributes[d.attribute]
                                                            if wanted else d.wanted)
                                              for d in finding.differences}
        elif finding.action == DELETE or (finding.action == ONLY_ON_TARGET
                                          and delete_only_on_target):
            yield finding.name, Kind.DELETE, {}


def still_wanted(finding: Finding, now: Wanted | None) -> bool:
    """Whether ``finding``'s fix still stands on what Keystead wants ``now`` for the
    account (None: no account of that name): a scan of a large target takes minutes,
    and meanwhile a person may have been disabled or removed, or given the name."""
    if finding.action == ONLY_ON_TARGET:
        return now is None
    wanted = finding.wanted
    return (now is not None and wanted is not None and now.present == wanted.present
            and now.attributes == wanted.attributes)


def apply(report: Report, system: System, *, delete_only_on_target: bool = False,
          source: WantedSource = wanted_accounts) -> int:
    """Queue the fixes of ``report`` (all in one transaction) and audit the reconciliation;
    returns the number of operations queued. What Keystead wants is read again first: a
    fix whose account changed since the scan is left out (``Report.changed_meanwhile``)
    rather than queued on a stale reading."""
    from django.db import transaction

    from keystead.directory import audit
    from keystead.provisioning.services import queue_operation

    with transaction.atomic():
        now = {item.name.lower(): item for item in source(system)}
        standing = Report(report.system)
        for finding in report.findings:
            if finding.action == SAME or still_wanted(finding, now.get(finding.name.lower())):
                standing.findings.append(finding)
            else:
                report.changed_meanwhile.append(finding.name)
        queued = 0
        for name, kind, attributes in fixes(standing,
                                            delete_only_on_target=delete_only_on_target):
            account = SystemAccount.objects.filter(system=system, name=name).first()
            queue_operation(system, name, kind, attributes=attributes, account=account)
            queued += 1
        audit.record("provisioning.reconcile", actor_label="keystead provision",
                     target=system,
                     detail={"queued": queued,
                             "changed_meanwhile": len(report.changed_meanwhile),
                             **{action.replace(" ", "_"): report.count(action)
                                for action in (CREATE, CHANGE, DELETE, ONLY_ON_TARGET)}})
    report.queued = queued
    System.objects.filter(pk=system.pk).update(last_reconciliation=summary(report))
    return queued
