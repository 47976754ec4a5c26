"""Directory records: people, groups, roles, and the audit log of security decisions."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.auth.models import Group as AuthGroup
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Lower
from django.utils import timezone

from keystead.directory.rules import MAX_USERNAME_LENGTH, normalize_email, person_problems
from keystead.policy.lockout import is_locked


class Source(models.TextChoices):
    """Where an account came from; external sources keep their own identifier."""

    LOCAL = "local", "Local"
    LDAP = "ldap", "LDAP"
    SAML = "saml", "SAML"


class UserKey(models.TextChoices):
    """Which of a person's identifiers an external source's answer is matched on (the
    "authentication user key" of a directory or SAML source)."""

    EMAIL = "email", "Email"
    USERNAME = "username", "User name"
    EXTERNAL_ID = "external_id", "External id"
    SOURCE_ID = "source_id", "Identifier in the source"


class LastModifiedField(models.DateTimeField):
    """When the record last changed: ``auto_now``, except that a new record takes its
    created time (the field named by ``created``).

    Two clock readings (a created default and ``auto_now``) differ by the time between
    them, so a record never changed would show a last change after its creation; SCIM
    clients compare ``meta.created`` with ``meta.lastModified``, and RFC 7643 §3.1 has
    both start at the moment the resource was added. Later saves stamp the time as
    ``auto_now`` does; changes made with a set-based UPDATE set the field themselves.
    """

    def __init__(self, *args: Any, created: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("auto_now", True)
        self.created = created
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[Any, ...]:
        name, path, args, kwargs = super().deconstruct()
        if self.created:
            kwargs["created"] = self.created
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        created = getattr(model_instance, self.created, None) if add and self.created else None
        if created is None:
            return super().pre_save(model_instance, add)
        setattr(model_instance, self.attname, created)
        return created


class UserQuerySet(models.QuerySet):
    def identified_by(self, key: str, value: str, *, source: str = "") -> QuerySet[User]:
        """The person whose identifier ``key`` (a ``UserKey``) is ``value``: email and
        user name regardless of case; the external id exactly; a source identifier
        exactly and only within ``source``, where it is unique."""
        value = value.strip()
        if key == UserKey.EMAIL:
            return self.filter(email=normalize_email(value))
        if key == UserKey.USERNAME:
            return self.alias(username_key=Lower("username")).filter(
                username_key=Lower(Value(value)))
        if key == UserKey.EXTERNAL_ID:
            return self.filter(external_id=value) if value else self.none()
        if key == UserKey.SOURCE_ID:
            return self.filter(source=source, source_id=value) if value else self.none()
        raise ValueError(f"Unknown user key {key!r}; use one of: {', '.join(UserKey.values)}.")

    def signing_in_as(self, typed: str) -> QuerySet[User]:
        """The account a typed sign-in name names: by its email or by its user name,
        both regardless of case. The services keep the two namespaces apart (no user
        name equals another person's email), so at most one account matches.

        The user name is compared in the database, lower-cased on both sides the way
        its unique index is built, so the lookup uses that index on either engine.
        """
        name = typed.strip()
        return self.alias(username_key=Lower("username")).filter(
            Q(email=normalize_email(name)) | Q(username_key=Lower(Value(name))))


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    def get_by_natural_key(self, username: str | None) -> User:
        return self.signing_in_as(username or "").get()

    def create_user(
        self, email: str, given_name: str, family_name: str, password: str | None = None, **extra
    ) -> User:
        user = self.model(email=email, given_name=given_name, family_name=family_name, **extra)
        user.full_clean(exclude=["password"])
        if password:
            user.set_password(password)
            user.password_changed_at = timezone.now()
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(
        self, email: str, given_name: str, family_name: str, password: str | None = None, **extra
    ) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, given_name, family_name, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person, who signs in with their email address or their user name; each is
    unique regardless of case.

    ``groups`` (from PermissionsMixin) holds the person's *admin roles*: bundles
    of console permissions. Directory groups are the ``directory_groups``
    relation, so the two cannot be confused.
    """

    username = models.CharField(
        "user name", max_length=MAX_USERNAME_LENGTH, blank=True,
        help_text="A sign-in name beside the email: an employee number, a user principal "
                  "name, a login. Unique regardless of case; kept as typed. New people get "
                  "their email unless one is given.",
    )
    email = models.EmailField(
        "email", max_length=254, unique=True,
        error_messages={"unique": "A user with this email already exists."},
        help_text="A sign-in name, and where resets and codes are mailed. Stored "
                  "lower-case, so it is unique regardless of case.",
    )
    given_name = models.CharField("given name", max_length=150)
    family_name = models.CharField("family name", max_length=150)
    is_active = models.BooleanField(
        "active", default=True, help_text="Disabled accounts cannot sign in."
    )
    is_staff = models.BooleanField(
        "console access", default=False, help_text="May sign in to the admin console."
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.LOCAL)
    # The person's identifier towards applications (OpenID Connect ``sub``): random,
    # so it reveals neither how many people there are nor in which order they came,
    # and stable for ever (the row number would follow a database restore or merge).
    subject = models.UUIDField(
        "subject identifier", default=uuid.uuid4, unique=True, editable=False,
        help_text="The person's stable, opaque identifier for applications (OpenID "
                  "Connect sub).")
    source_id = models.CharField(
        "source identifier",
        max_length=255,
        blank=True,
        help_text="The account's identifier in its source (LDAP DN/entryUUID, SAML NameID).",
    )
    external_id = models.CharField(
        "external id", max_length=255, blank=True,
        help_text="The person's identifier in the system that provisions them (SCIM "
                  "externalId); unique when set.",
    )
    must_change_password = models.BooleanField(
        default=False, help_text="Must choose a new password at the next sign-in.")
    break_glass = models.BooleanField(
        "break-glass account", default=False,
        help_text="Always signs in with the Keystead password, whatever the login strategy "
                  "(LDAP or SAML), so a wrong federation setting cannot lock every "
                  "administrator out. Keep it for a few local administrators.")
    password_changed_at = models.DateTimeField(null=True, blank=True)
    password_rules_passed = models.CharField(
        max_length=64, blank=True, editable=False,
        help_text="Fingerprint of the password rules the current password was last found to "
                  "meet: until the rules change, a sign-in need not check it again.")
    failed_logins = models.PositiveIntegerField(
        "consecutive failed sign-ins", default=0, editable=False)
    locked_at = models.DateTimeField(null=True, blank=True, editable=False)
    locked_until = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="Empty while locked means: until an administrator unlocks.")
    date_joined = models.DateTimeField(default=timezone.now)
    updated_at = LastModifiedField(created="date_joined")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["given_name", "family_name"]

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_id"],
                condition=~models.Q(source_id=""),
                name="user_source_id_unique",
            ),
            models.UniqueConstraint(
                Lower("username"), name="user_username_unique_ci",
                violation_error_message="A user with this user name already exists.",
            ),
            models.UniqueConstraint(
                fields=["external_id"], condition=~models.Q(external_id=""),
                name="user_external_id_unique",
                violation_error_message="A user with this external id already exists.",
            ),
        ]
        permissions = [
            ("unlock_user", "Can unlock users"),
            ("set_user_password", "Can set users' passwords"),
            ("manage_policy", "Can manage logon policy"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        self.email = normalize_email(self.email or "")
        self.username = self.username or self.email
        self.given_name = (self.given_name or "").strip()
        self.family_name = (self.family_name or "").strip()
        problems = person_problems(
            email=self.email, given_name=self.given_name, family_name=self.family_name,
            username=self.username,
        )
        if problems:
            raise ValidationError({p.field: p.message for p in problems})

    def save(self, *args, **kwargs) -> None:
        self.email = normalize_email(self.email or "")
        self.username = self.username or self.email
        super().save(*args, **kwargs)

    def get_username(self) -> str:
        """The user name: what libraries show as "the username" (token introspection's
        ``username``). Email stays USERNAME_FIELD, the unique column Django's checks ask for."""
        return self.username or self.email

    def is_locked(self, now=None) -> bool:
        return is_locked(self.locked_at, self.locked_until, now or timezone.now())

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.given_name


class Group(models.Model):
    """A directory group: people who share access (and, later, roles and accounts)."""

    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    external_id = models.CharField("external id", max_length=255, blank=True)
    members = models.ManyToManyField(User, related_name="directory_groups", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = LastModifiedField(created="created_at")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="group_name_unique_ci",
                violation_error_message="A group with this name already exists.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """A named bundle that grants accounts on connected systems to its holders.

    Held directly by users or through groups.
    """

    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    users = models.ManyToManyField(User, related_name="roles", blank=True)
    groups = models.ManyToManyField(Group, related_name="roles", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = LastModifiedField(created="created_at")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="role_name_unique_ci",
                violation_error_message="A role with this name already exists.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class Event(models.Model):
    """One security decision: who did what to whom, from where, and how it ended.

    Written only through ``keystead.directory.audit.record``, which scrubs the
    detail of anything secret. Events are never edited.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=255, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "audit event"
        verbose_name_plural = "audit log"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            # Recent failed sign-ins from one address (``login.throttle.COUNTED``).
            models.Index(fields=["client_ip", "created_at"], name="event_address_failures",
                         condition=models.Q(outcome="failure",
                                            action__in=("login", "login.second_factor"))),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"


class AdminRole(AuthGroup):
    """An admin role: a named bundle of console permissions held through ``User.groups``.

    A proxy of Django's auth group, so the console can call it what it is without
    a second table; directory groups (``Group`` above) stay a separate idea.
    """

    class Meta:
        proxy = True
        verbose_name = "admin role"
        verbose_name_plural = "admin roles"
