"""SAML applications Keystead signs people in to, and the keys that sign for it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"

#: What Keystead can release about a person, and the SAML name each gets by default.
RELEASABLE = {
    "email": "email",
    "given_name": "givenName",
    "family_name": "sn",
    "username": "uid",
    "groups": "groups",
}


class SamlApplication(models.Model):
    """One service provider, registered from its metadata (pasted, or fetched from a URL).

    The metadata is kept as the XML pysaml2 accepted, so the addresses Keystead answers
    (assertion consumer and logout services) and the SP's certificates are always the
    ones the SP published; re-importing replaces them.
    """

    name = models.CharField(max_length=150, help_text="What people see in their portal.")
    slug = models.SlugField(
        "short name", max_length=60, unique=True,
        help_text="Letters, digits and hyphens, for addresses: IdP-initiated sign-in starts at "
                  "/saml/launch/ followed by the short name.")
    entity_id = models.CharField("entity ID", max_length=1024, unique=True, editable=False)
    metadata_xml = models.TextField("metadata XML", blank=True)
    metadata_url = models.URLField(
        "metadata URL", max_length=1024, blank=True,
        help_text="Where the SP publishes its metadata; fetched when saved.")
    sign_response = models.BooleanField(
        default=True, help_text="Sign the whole Response message (RSA-SHA256).")
    sign_assertion = models.BooleanField(
        default=True, help_text="Sign the Assertion inside the response (RSA-SHA256).")
    encryption = models.CharField(
        "encrypt assertions", max_length=64, blank=True, default="",
        choices=[("", "No encryption"),
                 (AES256_CBC, "AES-256-CBC, key sent with RSA-OAEP"),
                 (AES256_GCM, "AES-256-GCM, key sent with RSA-OAEP")],
        help_text="Needs an encryption certificate in the SP's metadata.")
    nameid_format = models.CharField(
        "NameID format", max_length=80, default=PERSISTENT,
        choices=[(PERSISTENT, "Persistent: an opaque identifier of its own for this application"),
                 (EMAIL, "Email address"),
                 (UNSPECIFIED, "Unspecified: the person's user name")])
    #: Key of the persistent NameID's HMAC, encrypted with ``keystead.crypto``.
    persistent_key = models.TextField(editable=False)
    attributes = models.JSONField(
        default=dict, blank=True,
        help_text="What is released: Keystead's name (see RELEASABLE) → the SAML attribute name.")
    relay_state = models.CharField(
        "launch URL (RelayState)", max_length=1024, blank=True,
        help_text="Sent as RelayState with IdP-initiated sign-in: where the application "
                  "should open afterwards.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SAML application"
        verbose_name_plural = "SAML applications"
        ordering = ("name", "pk")

    def __str__(self) -> str:
        return self.name


class SigningKey(models.Model):
    """An IdP signing key and its self-signed certificate.

    A key is published in metadata from ``created_at`` until ``published_until`` (empty:
    for as long as it exists) and signs from ``signs_from`` on; the key that signs is the
    newest whose ``signs_from`` has passed. Rotation makes the next key with a
    ``signs_from`` in the future, so SPs that refresh metadata learn it before it signs,
    and keeps the old key published for the overlap after the switch.
    """

    private_key = models.TextField(editable=False)  # PEM, encrypted with keystead.crypto
    certificate = models.TextField(editable=False)  # PEM
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    signs_from = models.DateTimeField()
    published_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "IdP signing key"
        verbose_name_plural = "IdP signing keys"
        ordering = ("-signs_from", "-pk")

    def __str__(self) -> str:
        return f"signing key from {self.signs_from:%Y-%m-%d %H:%M}"
