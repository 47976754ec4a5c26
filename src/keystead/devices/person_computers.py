"""A person's computers (those an administrator assigned to them), as plain data for
their console page.

Only the owner counts: the computer's own report of who signed in on it
(``reported_user``) is shown beside it, because a machine's word makes nobody the owner
(``services.change_device``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse

from keystead.devices.models import Device
from keystead.directory.models import User

#: Computers read per person; more than this many is counted, not listed.
COMPUTER_LIMIT = 100


@dataclass(frozen=True)
class PersonComputer:
    name: str
    url: str  # the computer's console page; "" if the viewer may not open it
    last_seen: datetime | None
    reported_user: str  # "" when the computer has reported no sign-in


def computers_of(user: User, *, link: bool = False) -> tuple[list[PersonComputer], int]:
    """The computers ``user`` owns, by name (one statement), and how many more there are
    beyond ``COMPUTER_LIMIT``."""
    rows = list(Device.objects.filter(owner=user).only("pk", "name", "last_seen",
                                                       "reported_user")
                .order_by("name", "pk")[:COMPUTER_LIMIT + 1])
    more = 0
    if len(rows) > COMPUTER_LIMIT:
        more = Device.objects.filter(owner=user).count() - COMPUTER_LIMIT
        rows = rows[:COMPUTER_LIMIT]
    return [PersonComputer(
        name=row.name,
        url=reverse("admin:devices_device_change", args=[row.pk]) if link else "",
        last_seen=row.last_seen, reported_user=row.reported_user,
    ) for row in rows], more
