"""What one sync pass did: counts, and the first refusals with their reasons.

The report is what an operator reads after ``keystead ldap sync`` and on the
source's page (its ``summary`` is stored as ``LdapSource.last_sync_report``),
and what the ``ldap_source.sync`` audit event records. Only the first few
refusals and links are kept word for word, so a directory where every entry
is wrong still gives a short report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Refusals and links kept word for word; the counts cover all of them.
KEPT = 20

PEOPLE_COUNTS = ("seen", "created", "updated", "linked", "unchanged", "disabled", "enabled",
                 "refused")
GROUP_COUNTS = ("groups_seen", "groups_created", "groups_updated", "groups_unchanged",
                "groups_emptied", "groups_refused")


@dataclass(frozen=True)
class Refusal:
    """An entry that was not imported (or a change not made), and why."""

    dn: str
    reason: str


@dataclass
class SyncReport:
    """The outcome of one pass over one source."""

    source: str
    full: bool
    started_at: datetime
    finished_at: datetime | None = None
    ok: bool = False
    error: str = ""
    cursor_before: str = ""
    cursor_after: str = ""
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(PEOPLE_COUNTS + GROUP_COUNTS, 0))
    refusals: list[Refusal] = field(default_factory=list)
    linked_people: list[str] = field(default_factory=list)

    def count(self, name: str, by: int = 1) -> None:
        self.counts[name] += by

    def refuse(self, dn: str, reason: str, *, group: bool = False) -> None:
        self.count("groups_refused" if group else "refused")
        if len(self.refusals) < KEPT:
            self.refusals.append(Refusal(dn, reason))

    def linked(self, email: str) -> None:
        """A person who existed locally and is now the directory's (matched by email)."""
        self.count("linked")
        if len(self.linked_people) < KEPT:
            self.linked_people.append(email)

    @property
    def changed(self) -> int:
        """How many records the pass changed in Keystead."""
        names = ("created", "updated", "linked", "disabled", "enabled", "groups_created",
                 "groups_updated", "groups_emptied")
        return sum(self.counts[n] for n in names)

    def summary(self) -> dict[str, Any]:
        """Plain JSON: stored on the source and shown on its page."""
        return {
            "source": self.source,
            "full": self.full,
            "ok": self.ok,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "cursor_before": self.cursor_before,
            "cursor_after": self.cursor_after,
            "counts": dict(self.counts),
            "notes": list(self.notes),
            "refusals": [{"dn": r.dn, "reason": r.reason} for r in self.refusals],
            "linked": list(self.linked_people),
        }

    def audit_detail(self) -> dict[str, Any]:
        """What the audit event keeps: the counts and the outcome, not every name."""
        detail: dict[str, Any] = {"full": self.full, **self.counts}
        if self.error:
            detail["error"] = self.error
        if self.notes:
            detail["notes"] = list(self.notes)
        return detail


def describe(summary: dict[str, Any]) -> str:
    """One line for the source's page from a stored ``summary()``: what the last pass did
    or why it stopped."""
    if not summary:
        return "No sync has run yet."
    kind = "Full" if summary.get("full") else "Incremental"
    when = (summary.get("finished_at") or summary.get("started_at") or "")[:16].replace("T", " ")
    counts = summary.get("counts", {})
    done = ", ".join(f"{counts.get(name, 0)} {name}" for name in
                     ("seen", "created", "updated", "linked", "disabled", "refused"))
    line = f"{kind} sync at {when} UTC: {done}."
    if not summary.get("ok"):
        line = f"{kind} sync at {when} UTC stopped: {summary.get('error', '')} ({done})."
    return line
