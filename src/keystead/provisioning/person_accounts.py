"""A person's accounts on connected systems, as plain data for their console page.

Administrators see where a person has accounts, what the queue last did to each,
whether it holds the person's password (so their next change is a change, not a
reset, on Active Directory) and how many operations for it are still open, without
opening each system.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.db.models import Count
from django.urls import reverse

from keystead.directory.models import User
from keystead.provisioning.models import SystemAccount

#: Accounts read per person; more than this many is counted, not listed.
ACCOUNT_LIMIT = 100


@dataclass(frozen=True)
class PersonAccount:
    system: str
    system_url: str  # the system's console page; "" if the viewer may not open it
    name: str
    state: str  # in words
    holds_persons_password: bool
    open_operations: int
    operations_url: str  # the queue, searched for the account; "" if not viewable


def accounts_of(user: User, *, link_systems: bool = False,
                link_operations: bool = False) -> tuple[list[PersonAccount], int]:
    """The person's accounts by system and name (one statement), and how many more
    there are beyond ``ACCOUNT_LIMIT``."""
    rows = list(SystemAccount.objects.filter(person=user).select_related("system")
                .annotate(open_operations=Count("operations"))
                .order_by("system__name", "name", "pk")[:ACCOUNT_LIMIT + 1])
    more = 0
    if len(rows) > ACCOUNT_LIMIT:
        more = SystemAccount.objects.filter(person=user).count() - ACCOUNT_LIMIT
        rows = rows[:ACCOUNT_LIMIT]
    queue = reverse("admin:provisioning_operation_changelist") if link_operations else ""
    return [PersonAccount(
        system=row.system.name,
        system_url=reverse("admin:provisioning_system_change", args=[row.system_id])
        if link_systems else "",
        name=row.name, state=row.get_state_display(),
        holds_persons_password=row.has_persons_password,
        open_operations=row.open_operations,
        operations_url=f"{queue}?{urlencode({'q': row.name, 'system__id__exact': row.system_id})}"
        if queue and row.open_operations else "",
    ) for row in rows], more
