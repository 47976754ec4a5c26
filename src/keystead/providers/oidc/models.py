"""Per-application settings Keystead adds to django-oauth-toolkit's Application."""

from __future__ import annotations

from django.db import models
from oauth2_provider.settings import APPLICATION_MODEL


class ClientSettings(models.Model):
    """Token behaviour for one application; empty lifetimes mean the site defaults."""

    application = models.OneToOneField(APPLICATION_MODEL, on_delete=models.CASCADE,
                                       related_name="keystead_settings")
    issue_refresh_tokens = models.BooleanField(
        default=True, help_text="Off: the application gets no refresh tokens and must send "
                                "people through sign-in again when its access token expires.")
    access_token_seconds = models.PositiveIntegerField(
        "access token lifetime (seconds)", null=True, blank=True,
        help_text="Empty: the site default (KEYSTEAD_OIDC_ACCESS_TOKEN_SECONDS).")
    refresh_token_seconds = models.PositiveIntegerField(
        "refresh token lifetime (seconds)", null=True, blank=True,
        help_text="How long a refresh token stays usable after its access token expires. "
                  "Empty: the site default (KEYSTEAD_OIDC_REFRESH_TOKEN_SECONDS).")

    rotate_refresh_tokens = models.BooleanField(
        default=True, help_text="On: every refresh hands out a new refresh token and the old one "
                                "stops working; using an old one again revokes the whole token "
                                "family (reuse detection). Off: the application keeps one "
                                "refresh token until it expires.")
    id_token_algorithm = models.CharField(
        "ID token signature", max_length=5, blank=True, default="",
        choices=[("", "As the application's algorithm (RS256)"),
                 ("ES256", "ES256 (ECDSA with P-256 and SHA-256)")],
        help_text="ES256: ID tokens are signed with Keystead's EC P-256 key, published in the "
                  "JWKS. The application's algorithm must still be set (RS256) for OpenID "
                  "Connect to be on.")

    allowed_grants = models.JSONField(
        default=list, blank=True,
        help_text="The grants the application may use (grants.NAMES). Empty: only the "
                  "application's own grant type (applications registered before the list).")

    class Meta:
        verbose_name = "token settings"
        verbose_name_plural = "token settings"

    def __str__(self) -> str:
        return f"token settings of {self.application}"


def settings_for(application) -> ClientSettings:
    """The application's settings, or unsaved defaults if none were set."""
    try:
        return application.keystead_settings
    except ClientSettings.DoesNotExist:
        return ClientSettings(application=application)
