"""Stored state of the sign-in flows: password-reset links, authenticator apps, backup codes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ResetToken(models.Model):
    """One emailed password-reset link.

    Only the SHA-256 of the link's secret is stored. The secret is 256 random
    bits, so a fast hash is enough (nobody can guess it back from the hash) and
    lets a link be found with one indexed lookup; a copy of this table or a
    database backup never holds a working link. A user has at most one row: a
    new request replaces the old one, which is how "the newest link wins" and
    the one-mail-a-minute limit (``created_at`` of that row) are kept across
    any number of web processes.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reset_tokens")
    token_hash = models.CharField(
        max_length=64, unique=True, help_text="SHA-256 (hex) of the link's secret.")
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(
        null=True, blank=True, help_text="When the link set a new password; it works once.")
    requested_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="login_reset_user_latest")]
        verbose_name = "password-reset link"

    def __str__(self) -> str:
        return f"Reset link for {self.user} ({self.created_at:%Y-%m-%d %H:%M})"


class PasskeyHandle(models.Model):
    """The WebAuthn user handle of one person: 32 random bytes, never the email or the pk.

    Authenticators store it inside each discoverable credential and return it at
    sign-in; a random value tells nobody who the person is. It stays when the
    person's passkeys are removed, so a new passkey replaces an old one for the
    same account on an authenticator instead of piling up beside it.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkey_handle")
    handle = models.CharField(max_length=64, unique=True, help_text="base64url of 32 random bytes.")

    class Meta:
        verbose_name = "passkey user handle"

    def __str__(self) -> str:
        return f"Passkey user handle of {self.user}"


class Passkey(models.Model):
    """One registered WebAuthn credential (a passkey) of one person.

    Only public material is stored: the credential's id and public key. The
    sign count is the authenticator's use counter; when an authenticator keeps
    one, every use must report a larger number, or the credential may have
    been copied (see ``keystead.login.passkeys``).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(max_length=64)
    credential_id = models.CharField(
        max_length=1400, unique=True, help_text="base64url of the credential id (≤ 1023 bytes).")
    public_key = models.BinaryField(help_text="COSE-encoded public key.")
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True,
                              help_text="Which kind of authenticator made it (zeros if unknown).")
    backed_up = models.BooleanField(default=False, help_text="Synced to a cloud account.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "passkey"

    def __str__(self) -> str:
        return f"Passkey “{self.name}” of {self.user}"


class TotpDevice(models.Model):
    """An authenticator app (RFC 6238 TOTP) a person enrolled.

    The seed is stored only encrypted (``keystead.crypto``, purpose ``totp``).
    A device is usable once ``confirmed_at`` is set, after the person typed a
    code from it; until then it is an enrolment in progress. ``last_step`` is
    the time step of the newest code accepted: a code for that step or an
    earlier one is refused, so each code works once, enforced by one
    conditional UPDATE that only one of several racing processes can win.
    """

    class Algorithm(models.TextChoices):
        SHA1 = "SHA1", "SHA-1 (works with every app)"
        SHA256 = "SHA256", "SHA-256"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_devices")
    name = models.CharField(max_length=64, default="Authenticator app")
    secret_encrypted = models.TextField(help_text="The seed, Fernet-encrypted; never shown.")
    algorithm = models.CharField(max_length=8, choices=Algorithm.choices,
                                 default=Algorithm.SHA1)
    digits = models.PositiveSmallIntegerField(default=6, choices=[(6, "6"), (8, "8")])
    period = models.PositiveSmallIntegerField(default=30)
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(
        default=-1, help_text="Time step of the newest accepted code; older or equal are refused.")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "authenticator app"

    def __str__(self) -> str:
        return f"{self.name} of {self.user}"


class BackupCode(models.Model):
    """One single-use backup code; only its keyed hash is stored (see ``backup_codes``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backup_codes")
    code_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 (hex) of the code.")
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["user", "code_hash"], name="login_backup_user_hash")]
        verbose_name = "backup code"

    def __str__(self) -> str:
        return f"Backup code of {self.user} ({'used' if self.used_at else 'unused'})"


class EmailCode(models.Model):
    """The sign-in code last emailed to a person (one row per person: the newest wins).

    Codes are short, so a plain hash could be reversed by trying every code;
    the stored value is an HMAC-SHA256 keyed with the installation's secret
    key, which a copy of this table alone cannot reverse. ``sent_at`` limits
    sending to one mail every 30 seconds across any number of web processes.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_code")
    code_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 (hex) of the code.")
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "emailed sign-in code"

    def __str__(self) -> str:
        return f"Sign-in code for {self.user} ({self.sent_at:%Y-%m-%d %H:%M})"


class RememberedBrowser(models.Model):
    """A browser that may skip the second factor for one person until ``expires_at``.

    The browser holds a 256-bit random token in an HttpOnly cookie; only its
    SHA-256 is stored. ``expires_at`` is fixed when the browser is remembered
    (from the policy's "remember for N days" at that moment): changing N later
    affects only browsers remembered after the change.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remembered_browsers")
    token_hash = models.CharField(max_length=64, unique=True,
                                  help_text="SHA-256 (hex) of the cookie's token.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    days = models.PositiveSmallIntegerField(help_text="The period granted, in days.")
    user_agent = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="login_remembered_user")]
        verbose_name = "remembered browser"

    def __str__(self) -> str:
        return f"Remembered browser of {self.user} ({self.created_at:%Y-%m-%d})"


class SignedInSession(models.Model):
    """Which person a stored browser session belongs to.

    Django's database sessions keep the person only inside the signed session
    data, so "sign this person out everywhere" could not find their sessions
    without decoding every row. A row is written when a session signs in
    (``user_logged_in``) and goes with its session: deleting the session
    (sign-out, a new key, expiry clean-up) deletes it.
    """

    session = models.OneToOneField("sessions.Session", on_delete=models.CASCADE,
                                   primary_key=True, related_name="signed_in")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="signed_in_sessions")
    signed_in_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "signed-in session"

    def __str__(self) -> str:
        return f"Session of {self.user} since {self.signed_in_at:%Y-%m-%d %H:%M}"


class OutgoingMail(models.Model):
    """One mail waiting in the outbox, being sent, sent, or given up on.

    Requests never talk to the mail server: they add a row here inside their own
    transaction (so a rolled-back sign-in mails nothing) and a background sender
    delivers it (``keystead.login.outbox``). A slow or hung mail server then
    costs nobody a request, and the time an answer takes says nothing about
    whether a mail went out.

    The body holds credentials (reset links, sign-in codes), so it is stored
    only encrypted (``keystead.crypto``, purpose ``mail``) and erased once the
    mail was sent or given up on. ``last_error`` is built from the mail
    server's answer, never from the body. Recipient and subject stay readable:
    the console and ``keystead mail list`` show them so an operator can see
    what is stuck.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        SENDING = "sending", "sending"  # claimed by a sender (SQLite only, see outbox.py)
        SENT = "sent", "sent"
        FAILED = "failed", "failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", help_text="Whose account the mail is about.")
    recipient = models.EmailField(max_length=254)
    subject = models.CharField(max_length=200)
    body_encrypted = models.TextField(
        blank=True, help_text="Fernet-encrypted text; erased once sent or given up on.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        default=timezone.now, help_text="Not tried before this time (a retry waits longer).")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True,
                                  help_text="The mail server's last refusal; never the body.")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="login_outbox_due")]
        verbose_name = "outgoing mail"
        verbose_name_plural = "outgoing mail"

    def __str__(self) -> str:
        return f"“{self.subject}” to {self.recipient} ({self.status})"


class MailTemplate(models.Model):
    """An administrator's wording for one kind of mail (``keystead.login.mail_templates``).

    A row exists only for a kind someone customised; a blank subject or body
    means the built-in default for that part. Each part is checked before it is
    stored (it renders, keeps its required placeholders, uses no tag that could
    reach outside the mail), so a stored template always sends.
    """

    kind = models.CharField(max_length=32, unique=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+")

    class Meta:
        verbose_name = "mail template"
        verbose_name_plural = "mail templates"
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.kind
