"""The mail outbox in the console, read-only.

Operators need to see what is stuck or given up on (and why) without a
terminal; they must not read, change or resend the mail itself. The body is
never shown (it holds reset links and sign-in codes, and is erased once sent),
and rows change only through the sender.
"""

from __future__ import annotations

from django.contrib import admin

from keystead.directory.admin_guards import ReadOnlyAdmin
from keystead.directory.admin_site import short_time
from keystead.login.models import OutgoingMail


@admin.register(OutgoingMail)
class OutgoingMailAdmin(ReadOnlyAdmin):
    list_display = ["created", "recipient", "subject", "status", "attempts", "next_attempt",
                    "last_error"]
    list_filter = ["status"]
    search_fields = ["recipient", "subject"]
    fields = ["recipient", "user", "subject", "status", "attempts", "created_at",
              "last_attempt_at", "next_attempt_at", "sent_at", "last_error"]
    readonly_fields = fields
    date_hierarchy = "created_at"
    list_select_related = ["user"]

    @admin.display(description="Queued", ordering="created_at")
    def created(self, obj: OutgoingMail) -> str:
        return short_time(obj.created_at)

    @admin.display(description="Next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj: OutgoingMail) -> str:
        waiting = obj.status in (OutgoingMail.Status.QUEUED, OutgoingMail.Status.SENDING)
        return short_time(obj.next_attempt_at) if waiting else "—"

