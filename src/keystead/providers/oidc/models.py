"""What Keystead keeps beside django-oauth-toolkit's tables: per-application token settings,
and when the person signed in and what they granted for each refresh-token family."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.settings import APPLICATION_MODEL, oauth2_settings


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
                  "Empty: the site default (KEYSTEAD_OIDC_REFRESH_TOKEN_SECONDS), which is "
                  "also the longest this can be.")

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

    subject_type = models.CharField(
        "subject identifier type", max_length=8, blank=True, default="",
        choices=[("", "Public: the same sub for every application"),
                 ("pairwise", "Pairwise: a sub of its own for this application's sector")],
        help_text="Pairwise (OpenID Connect Core §8.1): the application sees each person under "
                  "an identifier no other sector shares, so applications cannot match people "
                  "by sub.")
    sector_identifier = models.CharField(
        "sector identifier", max_length=255, blank=True, default="",
        help_text="Pairwise only: applications with the same sector identifier see the same "
                  "sub. Empty: the host of the application's first redirect URI.")

    allowed_grants = models.JSONField(
        default=list, blank=True,
        help_text="The grants the application may use (grants.NAMES). Empty: only the "
                  "application's own grant type (applications registered before the list).")

    backchannel_logout_uri = models.CharField(
        "back-channel logout URI", max_length=2000, blank=True, default="",
        help_text="OpenID Connect Back-Channel Logout: where Keystead POSTs a signed logout "
                  "token when a person's Keystead session ends (https://, or http:// only for "
                  "localhost, 127.0.0.1 and [::1]; no #fragment). Empty: not told.")
    backchannel_logout_session_required = models.BooleanField(
        "back-channel logout needs sid", default=False,
        help_text="On: the application needs the session's sid in every logout token, so "
                  "Keystead sends one token per signed-in session rather than one for the "
                  "person as a whole.")

    class Meta:
        verbose_name = "token settings"
        verbose_name_plural = "token settings"

    def __str__(self) -> str:
        return f"token settings of {self.application}"

    @property
    def access_lifetime(self) -> int:
        """Seconds an access token lives: the application's own, or the site's."""
        return self.access_token_seconds or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS


class FamilySignIn(models.Model):
    """What one refresh-token family (one sign-in's tokens) started with: when the person
    signed in, and the scope the person granted.

    A refreshed ID token's ``auth_time`` must be that of the original sign-in
    (OpenID Connect Core §12.2), while django-oauth-toolkit reads the person's
    latest sign-in, which moves whenever they sign in anywhere else. A refresh
    may ask for any scope within the one originally granted, and one that
    omits ``scope`` gets that whole grant again (RFC 6749 §6), however a
    previous refresh narrowed it; the toolkit keeps only each access token's
    scope, which a narrowing refresh overwrites. Neither is in the toolkit's
    tables, so both are written once, in the transaction that issues the
    family's first tokens (authorization code or password grant, with or
    without ``openid``), and read by every refresh of the family
    (``token_family`` is the toolkit's ``RefreshToken.token_family``).

    ``auth_time`` is empty when the sign-in time was unknown (a code from a
    browser session Keystead has no sign-in time for, without ``openid``).
    ``amr`` is how that sign-in was made (``sign_in_methods``: RFC 8176 values
    separated by spaces), for the refreshed ID tokens' ``amr`` and ``acr``; empty
    when unknown (families that started before it was kept): then neither is stated.
    ``sid`` is the browser session's identifier (``backchannel.session_sid``) that the
    family's ID tokens state, empty when none (the password grant, older families).
    ``granted_scope`` is empty for families that started before it was kept
    (which had a row only if they started with ``openid``): for them, and for
    families without a row, a refresh decides against the scope of the
    access token it replaces, as before (``refresh_rules``). A family granted
    an empty scope is served the same either way.
    """

    token_family = models.UUIDField(primary_key=True)
    auth_time = models.DateTimeField(null=True)
    granted_scope = models.TextField(blank=True, default="")
    amr = models.CharField(max_length=64, blank=True, default="")
    sid = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = "sign-in of a refresh-token family"
        verbose_name_plural = "sign-ins of refresh-token families"

    def __str__(self) -> str:
        return f"sign-in at {self.auth_time:%Y-%m-%d %H:%M:%S}"


def token_checksum(raw_token: str) -> str:
    """How the toolkit finds a stored token or code (its ``TokenChecksumField``): SHA-256, hex."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


def settings_for(application) -> ClientSettings:
    """The application's settings, or unsaved defaults if none were set."""
    try:
        return application.keystead_settings
    except ClientSettings.DoesNotExist:
        return ClientSettings(application=application)


class IssuedCode(models.Model):
    """What Keystead remembers of one authorization code, by its SHA-256 (never the code).

    The toolkit's ``Grant`` row is deleted when the code is exchanged, so two things
    it cannot answer are kept here: when the browser session that asked for the code
    signed in (``auth_time``: the ID token's ``auth_time`` must be *that* session's
    sign-in, not the person's latest anywhere; ``amr``: how it signed in, from
    ``sign_in_methods``, empty when unknown; ``sid``: the session's identifier for the ID
    token, ``backchannel``), and which tokens its exchange
    produced (so a replayed code revokes them, RFC 6749 §4.1.2). Rows are small and
    can be pruned once older than the longest refresh-token lifetime.
    """

    code_checksum = models.CharField(max_length=64, primary_key=True)
    application = models.ForeignKey(APPLICATION_MODEL, on_delete=models.CASCADE,
                                    related_name="+")
    auth_time = models.DateTimeField(null=True)
    amr = models.CharField(max_length=64, blank=True, default="")
    sid = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    exchanged_at = models.DateTimeField(null=True)
    access_token_checksum = models.CharField(max_length=64, blank=True, default="")
    token_family = models.UUIDField(null=True)
    replayed_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = "issued authorization code"
        verbose_name_plural = "issued authorization codes"

    def __str__(self) -> str:
        return f"authorization code issued {self.created:%Y-%m-%d %H:%M:%S}"


class SessionApplication(models.Model):
    """An application that got tokens in one browser session (``sid``): who is told, by
    back-channel logout, when that session ends (``backchannel``).

    Written when an authorization code is exchanged; removed when the session's logout
    is queued. Kept by ``sid`` (not the Django session key, which changes at sign-in and
    is the session's credential) so the ID token's ``sid`` and this row agree.
    """

    sid = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    application = models.ForeignKey(APPLICATION_MODEL, on_delete=models.CASCADE,
                                    related_name="+")
    issuer = models.CharField(max_length=255)  # the ID token's iss, for the logout token
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "application of a browser session"
        verbose_name_plural = "applications of browser sessions"
        constraints = [models.UniqueConstraint(fields=["sid", "application"],
                                               name="oidc_session_application_once")]
        indexes = [models.Index(fields=["user"], name="oidc_sessapp_user")]

    def __str__(self) -> str:
        return f"session {self.sid[:8]}… of {self.application_id}"


class LogoutDelivery(models.Model):
    """One back-channel logout waiting to be POSTed, sent, or given up on (the outbox).

    The logout token itself is never stored: it is built and signed at each attempt
    from ``subject`` and ``sid``, so a row holds nothing a reader could replay.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "waiting"
        SENDING = "sending", "being sent"
        SENT = "sent", "sent"
        FAILED = "failed", "given up"

    application = models.ForeignKey(APPLICATION_MODEL, on_delete=models.CASCADE,
                                    related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             related_name="+")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    sid = models.CharField(max_length=64, blank=True, default="")
    reason = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = "back-channel logout"
        verbose_name_plural = "back-channel logouts"
        indexes = [models.Index(fields=["status", "next_attempt_at"],
                                name="oidc_logout_due")]

    def __str__(self) -> str:
        return f"logout for {self.application_id} ({self.status})"
