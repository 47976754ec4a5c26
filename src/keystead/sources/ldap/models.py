"""An LDAP or Active Directory sign-in source: where the directory is and how it is used.

A source's settings live in the database so every web process and the CLI
use the same ones, and the console can change them without a restart. The
service bind password is kept encrypted (``keystead.crypto``, its own
purpose key); people's directory passwords are never stored at all.
"""

from __future__ import annotations

from django.db import models

from keystead import crypto
from keystead.secret import Secret
from keystead.sources.ldap.connection import ConnectionSettings, Method

BIND_PASSWORD_PURPOSE = "ldap-bind-password"


class Kind(models.TextChoices):
    """Which server family: decides how refusals are read and passwords are written."""

    OPENLDAP = "openldap", "OpenLDAP or another RFC 4511 server"
    ACTIVE_DIRECTORY = "active_directory", "Active Directory (or Samba AD)"


class Mode(models.TextChoices):
    """What Keystead does with the directory besides checking passwords against it."""

    READ_ONLY = "read_only", "Read-only: passwords are changed on the directory"
    WRITABLE = "writable", "Writable: passwords changed in Keystead are written to it"
    SYNC = "sync", "Sync: import people and groups, passwords stay on the directory"


class MethodChoice(models.TextChoices):
    PLAIN = Method.PLAIN.value, "Plain LDAP (sends passwords in clear; only for testing)"
    LDAPS = Method.LDAPS.value, "LDAPS (TLS from the first byte, usually port 636)"
    STARTTLS = Method.STARTTLS.value, "StartTLS (TLS negotiated on port 389)"


class LdapSource(models.Model):
    """One directory people sign in against. At most one source is enabled at a time,
    so a typed name always means one directory entry."""

    name = models.CharField(max_length=80, unique=True)
    enabled = models.BooleanField(default=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OPENLDAP)
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.READ_ONLY)
    host = models.CharField(max_length=253, help_text="Server name or address.")
    port = models.PositiveIntegerField(default=389)
    method = models.CharField(max_length=10, choices=MethodChoice.choices,
                              default=MethodChoice.STARTTLS)
    ca_certificate = models.TextField(
        blank=True, default="",
        help_text="PEM certificate(s) of the CA that issued the server's certificate. Empty: "
                  "the system's trusted CAs.")
    base_dn = models.CharField(
        "base DN", max_length=500, help_text="Where people are looked up, e.g. "
        "ou=people,dc=example,dc=org.")
    user_key = models.CharField(
        "authentication user key", max_length=64, default="uid",
        help_text="The attribute people type the value of: uid, mail, sAMAccountName, "
                  "userPrincipalName…")
    user_filter = models.CharField(
        max_length=500, blank=True, default="",
        help_text="Extra LDAP filter entries must match, e.g. (objectClass=inetOrgPerson).")
    bind_dn = models.CharField(
        "service bind DN", max_length=500, blank=True, default="",
        help_text="Account used to search for people. Empty: anonymous search.")
    bind_password_encrypted = models.TextField(blank=True, default="", editable=False)
    connect_timeout = models.FloatField(default=5.0, help_text="Seconds to wait for a connection.")
    operation_timeout = models.FloatField(default=10.0, help_text="Seconds to wait for an answer.")
    # Attribute mapping: where a person's Keystead fields come from.
    unique_id_attribute = models.CharField(
        max_length=64, default="entryUUID",
        help_text="An attribute that never changes for an entry: entryUUID (OpenLDAP) or "
                  "objectGUID (Active Directory).")
    email_attribute = models.CharField(max_length=64, default="mail")
    given_name_attribute = models.CharField(max_length=64, default="givenName")
    family_name_attribute = models.CharField(max_length=64, default="sn")
    username_attribute = models.CharField(max_length=64, blank=True, default="uid")
    # Groups (sync mode).
    group_base_dn = models.CharField("group base DN", max_length=500, blank=True, default="")
    group_filter = models.CharField(max_length=500, blank=True,
                                    default="(objectClass=groupOfNames)")
    group_member_attribute = models.CharField(max_length=64, default="member")
    sync_interval_minutes = models.PositiveIntegerField(
        default=60, help_text="How often the periodic sync runs (sync mode); 0 turns it off.")
    # What the last console test and sync found: shown on the source's status page.
    last_test_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(default=False, editable=False)
    last_test_message = models.TextField(blank=True, default="", editable=False)
    sync_cursor = models.CharField(
        max_length=64, blank=True, default="", editable=False,
        help_text="Highest modifyTimestamp/uSNChanged seen by the last sync.")
    last_sync_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_full_sync_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_sync_report = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text="What the last sync pass did: counts and the first refusals, or its error.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "LDAP source"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["enabled"], condition=models.Q(enabled=True),
                                    name="ldap_source_one_enabled",
                                    violation_error_message="Another LDAP source is enabled; "
                                    "disable it first."),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def bind_password(self) -> Secret | None:
        if not self.bind_password_encrypted:
            return None
        return crypto.decrypt(self.bind_password_encrypted, BIND_PASSWORD_PURPOSE)

    def set_bind_password(self, password: Secret | None) -> None:
        """Keep ``password`` encrypted; ``None`` or empty removes it."""
        clear = password.reveal() if password is not None else ""
        self.bind_password_encrypted = (
            crypto.encrypt(clear, BIND_PASSWORD_PURPOSE) if clear else "")

    def connection_settings(self) -> ConnectionSettings:
        return ConnectionSettings(
            host=self.host, port=self.port, method=Method(self.method), base_dn=self.base_dn,
            user_key=self.user_key, user_filter=self.user_filter, ca_pem=self.ca_certificate,
            bind_dn=self.bind_dn, bind_password=self.bind_password,
            connect_timeout=self.connect_timeout, operation_timeout=self.operation_timeout)

    @classmethod
    def active(cls) -> LdapSource | None:
        """The enabled source, if any."""
        return cls.objects.filter(enabled=True).first()


class LdapPersonLink(models.Model):
    """A person imported (or linked) by a sync of ``source``, with the entry's DN.

    The DN lets a group's member values name Keystead people; ``last_seen_at``
    lets a full pass find the people whose entries are gone without holding
    every identifier in memory; ``disabled_by_sync`` lets a sync turn back on
    only the accounts it turned off itself, never one an administrator disabled.
    """

    source = models.ForeignKey(LdapSource, on_delete=models.CASCADE, related_name="people")
    user = models.OneToOneField("directory.User", on_delete=models.CASCADE,
                                related_name="ldap_link")
    dn = models.TextField("DN")
    dn_key = models.CharField(max_length=1000, db_index=True, editable=False,
                              help_text="The DN in a normal form, for matching member values.")
    last_seen_at = models.DateTimeField()
    disabled_by_sync = models.BooleanField(default=False)

    class Meta:
        verbose_name = "person imported from LDAP"

    def __str__(self) -> str:
        return self.dn


class LdapGroupLink(models.Model):
    """A Keystead group that a sync of ``source`` keeps equal to a directory group."""

    source = models.ForeignKey(LdapSource, on_delete=models.CASCADE, related_name="groups")
    group = models.OneToOneField("directory.Group", on_delete=models.CASCADE,
                                 related_name="ldap_link")
    unique_id = models.CharField(max_length=255)
    dn = models.TextField("DN")
    last_seen_at = models.DateTimeField()

    class Meta:
        verbose_name = "group imported from LDAP"
        constraints = [
            models.UniqueConstraint(fields=["source", "unique_id"],
                                    name="ldap_group_link_unique_id"),
        ]

    def __str__(self) -> str:
        return self.dn
