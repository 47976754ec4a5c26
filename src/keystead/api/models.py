"""Admin API tokens: named, scoped, expiring, revocable; shown once and stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "kst"


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    name = models.CharField(max_length=100)
    key_id = models.CharField(
        "token id", max_length=16, unique=True, help_text="Public part, shown in lists and logs."
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="The administrator the token acts as in the audit log.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @classmethod
    def issue(
        cls, *, name: str, scopes: list[str], owner=None, expires_at: datetime | None
    ) -> tuple[ApiToken, str]:
        """Create a token and return it with its clear value, which is never stored."""
        key_id = secrets.token_hex(6)
        clear = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        token = cls.objects.create(
            name=name,
            key_id=key_id,
            token_hash=hash_token(clear),
            scopes=scopes,
            owner=owner,
            expires_at=expires_at,
        )
        return token, clear

    @classmethod
    def find(cls, clear: str) -> ApiToken | None:
        token = cls.objects.filter(token_hash=hash_token(clear)).select_related("owner").first()
        if token is None or not token.is_usable:
            return None
        return token
