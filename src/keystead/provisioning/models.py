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
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from keystead import crypto
from keystead.secret import Secret

SYSTEM_SECRETS_PURPOSE = "provisioning-system-secrets"
QUEUED_PASSWORD_PURPOSE = "provisioning-queued-password"


class ConnectorType(models.TextChoices):
    LDAP = "ldap", "LDAP (OpenLDAP or another RFC 4511 server)"
    SQL = "sql", "SQL table (any SQLAlchemy database URL)"
    AD = "ad", "Active Directory (unicodePwd over LDAPS or StartTLS)"
    SCIM = "scim", "SCIM 2.0 server"


class PasswordPolicy(models.Model):
    """A password policy for connected systems: one a system *validates* new passwords
    with (on top of the installation's own policy), or one it *generates* passwords with
    when a role grants an account. ``default_for_generation`` marks the installation's
    default generating policy, used by systems that name none."""

    name = models.CharField(max_length=80, unique=True)
    min_length = models.PositiveSmallIntegerField(
        default=12, validators=[MinValueValidator(1), MaxValueValidator(1024)],
        help_text="Minimum length; a generated password has at least this many characters.")
    max_length = models.PositiveSmallIntegerField(
        default=128, validators=[MinValueValidator(1), MaxValueValidator(4096)],
        help_text="Maximum length the system accepts.")
    min_lowercase = models.PositiveSmallIntegerField(default=0)
    min_uppercase = models.PositiveSmallIntegerField(default=0)
    min_digits = models.PositiveSmallIntegerField(default=0)
    min_symbols = models.PositiveSmallIntegerField(default=0)
    generated_length = models.PositiveSmallIntegerField(
        default=24, validators=[MinValueValidator(8), MaxValueValidator(1024)],
        help_text="Length of a generated password (raised to the minimum length if lower).")
    default_for_generation = models.BooleanField(
        default=False, help_text="The installation's default generating policy: used for "
                                 "systems without a generating policy of their own.")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "password policies"
        constraints = [models.UniqueConstraint(
            fields=["default_for_generation"], condition=models.Q(default_for_generation=True),
            name="provisioning_one_default_generating_policy",
            violation_error_message="Another policy is already the default generating policy.")]

    def __str__(self) -> str:
        return self.name


class RoleRemoval(models.TextChoices):
    DELETE = "delete", "Delete the account"
    DISABLE = "disable", "Disable the account"


class NameSource(models.TextChoices):
    USERNAME = "username", "User name"
    EMAIL = "email", "Email"


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
    validation_policy = models.ForeignKey(
        PasswordPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="New passwords of people with an account here must also meet this policy.")
    generating_policy = models.ForeignKey(
        PasswordPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Generates the password of an account a role grants (empty: the default "
                  "generating policy).")
    account_name_from = models.CharField(
        max_length=10, choices=NameSource.choices, default=NameSource.USERNAME,
        help_text="The person's attribute that names their account here.")
    on_role_removal = models.CharField(
        max_length=10, choices=RoleRemoval.choices, default=RoleRemoval.DISABLE,
        help_text="What happens to an account when the person no longer holds a role "
                  "granting it.")
    last_reconciled_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When the accounts on the system were last reconciled.")
    #: The last reconciliation's counts by action, the fixes queued, and a short list of
    #: the accounts that differed (names and attribute names only, never values).
    last_reconciliation = models.JSONField(default=dict, blank=True, editable=False)
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


class SchemaAttribute(models.Model):
    """An attribute of the system's account objects, as the connector's ``schema()`` said
    when an administrator last read it."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="schema")
    name = models.CharField(max_length=255)
    required = models.BooleanField(default=False)
    multivalued = models.BooleanField(default=False)
    type = models.CharField(max_length=20, default="string")

    class Meta:
        ordering = ["-required", "name"]
        constraints = [models.UniqueConstraint(fields=["system", "name"],
                                               name="provisioning_schema_unique_name")]

    def __str__(self) -> str:
        return self.name


class Source(models.TextChoices):
    """The Keystead attribute a system attribute takes its value from."""

    NONE = "", "—"
    USERNAME = "username", "User name"
    EMAIL = "email", "Email"
    GIVEN_NAME = "given_name", "Given name"
    FAMILY_NAME = "family_name", "Family name"
    FULL_NAME = "full_name", "Full name"
    GROUPS = "groups", "Directory groups (names)"
    ROLES = "roles", "Roles (names)"
    ACTIVE = "is_active", "Active (true/false)"


class MappedAttribute(models.Model):
    """How one system attribute gets its value: from a Keystead attribute, a constant, or
    a CEL script (given that attribute's value as ``value``). A *password attribute* gets
    the password instead (through its script, if it has one); ``__PASSWORD__`` is the
    main one and must be flagged like every other."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="mapping")
    name = models.CharField(max_length=255, help_text="The system attribute.")
    source = models.CharField(max_length=20, choices=Source.choices, blank=True, default="",
                              help_text="The Keystead attribute (a script gets it as value).")
    constant = models.CharField(max_length=1000, blank=True, default="",
                                help_text="A fixed value, used when there is no source or "
                                          "script.")
    script = models.TextField(blank=True, default="",
                              help_text="A CEL expression; see docs/provisioning.md.")
    is_password = models.BooleanField(
        "password attribute", default=False,
        help_text="Gets the password (on creation and on password changes). __PASSWORD__, "
                  "the main password, must be flagged too.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["system", "name"],
                                               name="provisioning_mapping_unique_name")]

    def __str__(self) -> str:
        return self.name


class RoleSystem(models.Model):
    """A role grants an account on a system to everyone who holds it directly."""

    role = models.ForeignKey("directory.Role", on_delete=models.CASCADE,
                             related_name="provisioned_systems")
    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="roles")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "system"],
                                               name="provisioning_role_system_unique")]

    def __str__(self) -> str:
        return f"{self.role} grants an account on {self.system}"


class AccountState(models.TextChoices):
    """What the account's executed operations last did to it on the system."""

    PLANNED = "planned", "Planned: not yet created on the system"
    PRESENT = "present", "Present on the system"
    DISABLED = "disabled", "Present on the system, disabled"
    DELETED = "deleted", "Deleted from the system"


class SystemAccount(models.Model):
    """A person's account on a system. ``name`` addresses it in operations (the target's
    naming value, such as the LDAP uid or the SQL key); ``uid`` is the target's own
    stable identifier once known (entryUUID, the key column's value).

    ``state`` is what the executed operations last did to the account's existence
    (``queue.finish`` writes it): the archive of those operations is pruned after
    ``KEYSTEAD_PROVISIONING_ARCHIVE_DAYS``, while whether an account was disabled must
    be known for as long as it is (``roles.last_sent``), through a leave of any length."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="accounts")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="system_accounts")
    name = models.CharField(max_length=255)
    uid = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=10, choices=AccountState.choices,
                             default=AccountState.PLANNED)
    has_persons_password = models.BooleanField(
        "holds the person's password", default=False,
        help_text="The account's password was last changed together with the person's "
                  "Keystead password, so the person's current password is its current "
                  "password too. Only then does the person's own change prove the old "
                  "password to the system (Active Directory); otherwise it is a reset. "
                  "Off for an account that started with a generated password or whose "
                  "password a change left out.")
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


class QueuedPasswords:
    """The passwords an operation carries, kept encrypted (``password_encrypted``,
    ``secret_attributes_encrypted``) and decrypted only when asked: shared by the
    operation row and the worker's plain copy of it (``queue.Claimed``)."""

    password_encrypted: str
    secret_attributes_encrypted: str

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted or self.secret_attributes_encrypted)

    def password(self) -> Secret | None:
        if not self.password_encrypted:
            return None
        return crypto.decrypt(self.password_encrypted, QUEUED_PASSWORD_PURPOSE)

    def secret_attributes(self) -> dict[str, Secret]:
        """The further password attributes, decrypted (see ``secrets.unpack``)."""
        from keystead.provisioning.secrets import unpack

        if not self.secret_attributes_encrypted:
            return {}
        return unpack(crypto.decrypt(self.secret_attributes_encrypted,
                                     QUEUED_PASSWORD_PURPOSE))


class Operation(QueuedPasswords, models.Model):
    """One open operation on one account of one system."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="operations")
    account_name = models.CharField(max_length=255)
    account = models.ForeignKey(SystemAccount, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="operations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    attributes = models.JSONField(default=dict, blank=True)
    password_encrypted = models.TextField(blank=True, default="", editable=False)
    #: Further password attributes (name -> value), one encrypted JSON token.
    secret_attributes_encrypted = models.TextField(blank=True, default="", editable=False)
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
    def why(self) -> str:
        """The state in words, with its reason."""
        if self.state == State.BLOCKED and self.blocked_behind:
            return f"blocked: waiting behind operation {self.blocked_behind}"
        if self.state == State.NOT_EXECUTED:
            return f"not executed: {Reason(self.reason).label.lower()}"
        return State(self.state).label


class ArchivedOperation(models.Model):
    """An operation that ended (executed or cancelled). No password column: ending an
    operation erases its password. Removed by housekeeping after
    ``KEYSTEAD_PROVISIONING_ARCHIVE_DAYS``."""

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
