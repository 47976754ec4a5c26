"""Stored state of the sign-in flows: emailed password-reset links."""

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
