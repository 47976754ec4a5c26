"""A SAML identity provider people sign in through, and the assertions already used.

The settings live in the database so every web process sees the same ones and
the console changes them without a restart. Keystead's own SP private key is
kept encrypted (``keystead.crypto``, its own purpose key); the IdP's
certificates are public and stored as pasted.
"""

from __future__ import annotations

from django.db import models

from keystead import crypto
from keystead.secret import Secret

SP_KEY_PURPOSE = "saml-sp-private-key"


class UserKey(models.TextChoices):
    """Which part of the IdP's answer names the person (the "authentication user key")."""

    PERSISTENT = ("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
                  "persistent NameID: matches the person's unique user identifier")
    UNSPECIFIED = ("urn:oasis:names:tc:SAML:1.1:attrname-format:unspecified",
                   "attribute (attrname-format:unspecified): matches the person's unique "
                   "user identifier")
    EMAIL = ("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
             "emailAddress NameID: matches the person's email")


class Binding(models.TextChoices):
    REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", "HTTP-Redirect"
    POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", "HTTP-POST"


class SamlSource(models.Model):
    """One identity provider. At most one is enabled, so the sign-in page offers one
    button and the SAML login strategy means one IdP."""

    name = models.CharField(
        max_length=80, unique=True,
        help_text='Shown on the sign-in page as "Sign in with <name>".')
    enabled = models.BooleanField(default=True)
    idp_entity_id = models.CharField(
        "IdP entity id", max_length=500, blank=True, default="",
        help_text="The identity provider's entity id (its Issuer). Filled in from the "
                  "metadata when a metadata URL or XML is given.")
    sso_url = models.URLField(
        "SAML server address (SSO URL)", max_length=1000, blank=True, default="",
        help_text="Where people are sent to sign in: the IdP's SingleSignOnService address.")
    sso_binding = models.CharField(
        "request binding", max_length=64, choices=Binding.choices, default=Binding.REDIRECT,
        help_text="How the sign-in request travels to the IdP.")
    metadata_url = models.URLField(
        "IdP metadata URL", max_length=1000, blank=True, default="",
        help_text="If set, the entity id, SSO address and certificates are read from it and "
                  "refreshed periodically (certificate rollovers need no change here).")
    metadata_xml = models.TextField(
        "IdP metadata XML", blank=True, default="",
        help_text="Or paste the IdP's metadata document instead of a URL.")
    metadata_refresh_hours = models.PositiveIntegerField(
        default=24, help_text="How often the metadata URL is read again.")
    metadata_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    metadata_checked_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When a sign-in last claimed a refresh of the metadata URL (the last "
                  "attempt, whatever its outcome): the claim lets one request read it at a "
                  "time.")
    certificate = models.TextField(
        "SAML certificate", blank=True, default="",
        help_text="The IdP's X.509 signing certificate in PEM, from -----BEGIN CERTIFICATE----- "
                  "to -----END CERTIFICATE-----. Paste two during a rollover.")
    user_key = models.CharField(
        "authentication user key", max_length=80, choices=UserKey.choices,
        default=UserKey.EMAIL)
    identifier_attribute = models.CharField(
        max_length=200, blank=True, default="uid",
        help_text="For the attribute user key: the attribute whose value is the person's "
                  "unique user identifier.")
    email_attribute = models.CharField(max_length=200, blank=True, default="email")
    given_name_attribute = models.CharField(max_length=200, blank=True, default="givenName")
    family_name_attribute = models.CharField(max_length=200, blank=True, default="sn")
    create_people = models.BooleanField(
        "create people on first sign-in", default=False,
        help_text="Otherwise only people already in Keystead can sign in.")
    sp_certificate = models.TextField("Keystead's SP certificate", blank=True, default="",
                                      editable=False)
    sp_private_key_encrypted = models.TextField(blank=True, default="", editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SAML identity provider"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["enabled"], condition=models.Q(enabled=True),
                                    name="saml_source_one_enabled",
                                    violation_error_message="Another SAML identity provider "
                                    "is enabled; disable it first."),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def sp_private_key(self) -> Secret | None:
        if not self.sp_private_key_encrypted:
            return None
        return crypto.decrypt(self.sp_private_key_encrypted, SP_KEY_PURPOSE)

    def set_sp_key_pair(self, private_key_pem: Secret, certificate_pem: str) -> None:
        self.sp_private_key_encrypted = crypto.encrypt(private_key_pem, SP_KEY_PURPOSE)
        self.sp_certificate = certificate_pem

    @classmethod
    def active(cls) -> SamlSource | None:
        """The enabled identity provider, if any."""
        return cls.objects.filter(enabled=True).first()


class UsedAssertion(models.Model):
    """An assertion id already accepted: the unique constraint makes a replay fail in
    every process at once. Rows are pruned once the assertion has expired anyway."""

    assertion_id = models.CharField(max_length=255, unique=True)
    issuer = models.CharField(max_length=500, blank=True, default="")
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "used SAML assertion"

    def __str__(self) -> str:
        return self.assertion_id
