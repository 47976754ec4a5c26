"""Connected systems, the accounts Keystead keeps on them, and the operation queue.

The queue table holds only *open* operations (waiting, running, failed, not
executed, blocked). An operation that ends, executed or cancelled, leaves it
for the archive in the same transaction, so "the oldest row of an account"
is always the one that must go first, and the table stays small however much
has been provisioned.

A password waiting in the queue is kept encrypted in its own column
(``keystead.crypto``, its own purpose key) and never in ``attributes``; the
archive has no password column at all, so ending an operation erases it.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models

from keystead import crypto
from keystead.secret import Secret

SYSTEM_SECRETS_PURPOSE = "provisioning-system-secrets"
QUEUED_PASSWORD_PURPOSE = "provisioning-queued-password"


class ConnectorType(models.TextChoices):
    LDAP = "ldap", "LDAP (OpenLDAP or another RFC 4511 server)"
    SQL = "sql", "SQL table (any SQLAlchemy database URL)"


class System(models.Model):
    """A system Keystead provisions accounts to: which connector, its settings, its flags."""

    name = models.CharField(max_length=80, unique=True)
    connector = models.CharField(max_length=20, choices=ConnectorType.choices)
    settings = models.JSONField(
        default=dict, blank=True,
        help_text="The connector's settings, without secrets (see docs/provisioning.md).")
    secrets_encrypted = models.TextField(blank=True, default="", editable=False)
    read_only = models.BooleanField(
        default=False, help_text="Operations are queued but not executed; the queue shows them "
                                 "as not executed.")
    disabled = models.BooleanField(
        default=False, help_text="Nothing is sent; operations wait in the queue until the "
                                 "system is enabled again.")
    block_create = models.BooleanField(default=False, help_text="Create operations are not "
                                                                "executed.")
    block_update = models.BooleanField(default=False, help_text="Update and password operations "
                                                                "are not executed.")
    block_delete = models.BooleanField(default=False, help_text="Delete operations are not "
                                                                "executed.")
    send_password_attributes_together = models.BooleanField(
        default=False, help_text="On a password change, send every password attribute in one "
                                 "operation instead of the main password first, then the others.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def secrets(self) -> dict[str, Secret]:
        """The connector's secrets (a bind password, a database password), decrypted."""
        if not self.secrets_encrypted:
            return {}
        clear = crypto.decrypt(self.secrets_encrypted, SYSTEM_SECRETS_PURPOSE).reveal()
        return {key: Secret(value) for key, value in json.loads(clear).items()}

    def set_secrets(self, values: dict[str, Secret]) -> None:
        """Keep ``values`` encrypted as one token; an empty mapping removes them."""
        kept = {key: Secret(value).reveal() for key, value in values.items() if value}
        self.secrets_encrypted = (crypto.encrypt(json.dumps(kept), SYSTEM_SECRETS_PURPOSE)
                                  if kept else "")


class AccountState(models.TextChoices):
    PLANNED = "planned", "Planned: not yet created on the system"
    PRESENT = "present", "Present on the system"
    DELETED = "deleted", "Deleted from the system"


class SystemAccount(models.Model):
    """A person's account on a system. ``name`` addresses it in operations (the target's
    naming value, such as the LDAP uid or the SQL key); ``uid`` is the target's own
    stable identifier once known (entryUUID, the key column's value)."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="accounts")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="system_accounts")
    name = models.CharField(max_length=255)
    uid = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=10, choices=AccountState.choices,
                             default=AccountState.PLANNED)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "name"],
                                               name="provisioning_account_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} on {self.system_id}"


class Kind(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    PASSWORD = "password", "Password"


class State(models.TextChoices):
    CREATED = "created", "Created: waiting to run"
    RUNNING = "running", "Running"
    EXECUTED = "executed", "Executed"
    EXCEPTION = "exception", "Exception: failed after every attempt"
    NOT_EXECUTED = "not_executed", "Not executed"
    BLOCKED = "blocked", "Blocked: waiting behind an earlier operation"
    CANCELLED = "cancelled", "Cancelled"


class Reason(models.TextChoices):
    """Why an operation was not executed (state ``not_executed``)."""

    NONE = "", "—"
    READ_ONLY = "read_only", "The system is read-only"
    DISABLED = "disabled", "The system is disabled"
    BLOCKED_KIND = "blocked_kind", "Operations of this kind are blocked on the system"


class Operation(models.Model):
    """One open operation on one account of one system."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="operations")
    account_name = models.CharField(max_length=255)
    account = models.ForeignKey(SystemAccount, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="operations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    attributes = models.JSONField(default=dict, blank=True)
    password_encrypted = models.TextField(blank=True, default="", editable=False)
    state = models.CharField(max_length=15, choices=State.choices, default=State.CREATED)
    reason = models.CharField(max_length=15, choices=Reason.choices, blank=True, default="")
    #: The earlier operation of the same account this one waits behind (state ``blocked``);
    #: a plain number, not a key, because that operation leaves for the archive.
    blocked_behind = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_owner = models.CharField(max_length=120, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["system", "account_name", "id"],
                         name="provisioning_op_account"),
            models.Index(fields=["state", "next_attempt_at"], name="provisioning_op_ready"),
        ]

    def __str__(self) -> str:
        return f"operation {self.pk}: {self.kind} {self.account_name}"

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def password(self) -> Secret | None:
        if not self.password_encrypted:
            return None
        return crypto.decrypt(self.password_encrypted, QUEUED_PASSWORD_PURPOSE)

    @property
    def why(self) -> str:
        """The state in words, with its reason."""
        if self.state == State.BLOCKED and self.blocked_behind:
            return f"blocked: waiting behind operation {self.blocked_behind}"
        if self.state == State.NOT_EXECUTED:
            return f"not executed: {Reason(self.reason).label.lower()}"
        return State(self.state).label


class ArchivedOperation(models.Model):
    """An operation that ended (executed or cancelled). No password column: ending an
    operation erases its password. Pruned after ``KEYSTEAD_PROVISIONING_ARCHIVE_DAYS``."""

    operation_id = models.BigIntegerField(unique=True)
    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="archive")
    account_name = models.CharField(max_length=255)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    attributes = models.JSONField(default=dict, blank=True)
    had_password = models.BooleanField(default=False)
    state = models.CharField(max_length=15, choices=State.choices)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-ended_at"]

    def __str__(self) -> str:
        return f"operation {self.operation_id}: {self.kind} {self.account_name} ({self.state})"
