"""Computers running the endpoint agent, and the one-use tokens that enrol them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from oauth2_provider.settings import APPLICATION_MODEL

STORE = "store"
DO_NOT_STORE = "do-not-store"
MODES = [
    (STORE, "Securely store password (the agent keeps it encrypted, updates without asking)"),
    (DO_NOT_STORE, "Do not store password (the person gives the old local password)"),
]
#: How the agent turns a local account name into the name it signs in to Keystead with.
LOGIN_NAMES = [
    ("local", "The local account name is the Keystead user name"),
    ("email", "The local account name @ the email domain below"),
]


class AgentSettings(models.Model):
    """What an enrolment hands a computer: chosen by the administrator with the token,
    copied to the device at enrolment (later token changes do not move enrolled ones)."""

    application = models.ForeignKey(
        APPLICATION_MODEL, on_delete=models.PROTECT, related_name="+",
        help_text="The OpenID Connect application the agent signs in as; it must be "
                  "allowed the password grant.")
    mode = models.CharField(max_length=16, choices=MODES, default=DO_NOT_STORE)
    check_seconds = models.PositiveIntegerField(
        "check interval (seconds)", default=300,
        validators=[MinValueValidator(30), MaxValueValidator(86400)],
        help_text="How often the agent checks whether the Keystead password changed "
                  "(30 to 86400); enrolled computers pick a change up at their next check.")
    reset_url = models.URLField(
        "password reset URL", blank=True, default="",
        help_text="Shown after three wrong passwords. Empty: this installation's /reset.")
    login_name = models.CharField(max_length=8, choices=LOGIN_NAMES, default="local")
    email_domain = models.CharField(
        max_length=253, blank=True, default="",
        help_text="With 'local account name @ domain': the domain, e.g. example.com.")

    class Meta:
        abstract = True


class EnrollmentToken(AgentSettings):
    """A one-use, expiring secret an administrator hands to whoever installs the agent.
    Only its SHA-256 is stored; the clear value is shown once."""

    digest = models.CharField(max_length=64, unique=True, editable=False)
    label = models.CharField(max_length=120, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "enrolment token"

    def __str__(self) -> str:
        return self.label or f"enrolment token {self.pk}"


class Device(AgentSettings):
    """One enrolled computer. Deleting it forgets its key: the computer must enrol again.

    The owner is whom an administrator assigns; what the computer itself says about who
    uses it is kept apart, as ``reported_user``, and decides nothing. Each key belongs to
    one computer: a signed request names its device, and two computers with one key could
    speak for each other."""

    name = models.CharField(max_length=253)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="computers",
        help_text="The person this computer belongs to, assigned by an administrator "
                  "here; the computer cannot choose it.")
    reported_user = models.CharField(
        "reported user", max_length=255, blank=True, default="", editable=False,
        help_text="The Keystead name of the last person the computer's agent reported "
                  "signing in successfully. The computer's own claim: it grants nothing "
                  "and does not make that person the owner.")
    public_key = models.TextField(help_text="The device's Ed25519 public key (PEM).",
                                  editable=False)
    enrolled_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    last_report = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = "computer"
        constraints = [models.UniqueConstraint(fields=["public_key"],
                                               name="devices_one_computer_per_key")]

    def __str__(self) -> str:
        return self.name


class SeenNonce(models.Model):
    """A signed request's one-time value, kept while its time could still be accepted, so
    the same request cannot be played again. The unique pair makes the check atomic on
    every engine and across processes; rows older than the window are pruned."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "nonce"],
                                               name="devices_nonce_once_per_device")]

    def __str__(self) -> str:
        return f"nonce of {self.device_id} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
