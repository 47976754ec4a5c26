"""Checking and completing a source's settings before they are saved.

One judgement for every door that saves a source (the console today): the
IdP certificate(s) are checked with ``certificates.check_certificates``, the
metadata URL or XML is read and fills in the entity id, SSO address and
certificates, and the source gets its own SP key pair the first time.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from keystead import metadata_download
from keystead.columns import too_long_for
from keystead.sources.saml import certificates, idp_metadata, keys
from keystead.sources.saml.models import Binding, SamlSource, UserKey


@dataclass
class Judgement:
    """Field -> message for what refuses the settings; warnings do not."""

    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def apply_metadata(source: SamlSource, info: idp_metadata.IdpInfo, xml: str) -> None:
    """Take entity id, SSO address (Redirect preferred) and certificates from metadata.

    Every door that reads metadata (console, refresh) comes here, so this is where a
    value longer than its column is refused (``MetadataProblem``), before ``source``
    changes: the save would otherwise fail in the database."""
    wanted = source.sso_binding if source.sso_binding in info.sso else next(iter(info.sso))
    _fits("idp_entity_id", "entityID", info.entity_id)
    _fits("sso_url", f"SingleSignOnService Location for {wanted}", info.sso[wanted])
    source.metadata_xml = xml
    source.idp_entity_id = info.entity_id
    source.sso_binding = wanted
    source.sso_url = info.sso[wanted]
    source.certificate = "\n".join(info.certificates)


def _fits(field_name: str, what: str, value: str) -> None:
    """Refuse ``value`` (the metadata's ``what``) if it is longer than ``field_name`` holds."""
    if limit := too_long_for(SamlSource, field_name, value):
        column = SamlSource._meta.get_field(field_name)
        raise idp_metadata.MetadataProblem(
            f"The IdP metadata's {what} is {len(value)} characters long; the field "
            f"'{column.verbose_name}' holds at most {limit}: check that this is the identity "
            "provider's metadata, or type the IdP's details and leave the metadata empty.")


def complete(source: SamlSource, *, now: datetime.datetime | None = None) -> Judgement:
    """Read metadata (URL first, else pasted XML) into the fields, then check them all."""
    judgement = Judgement()
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        if source.metadata_url:
            xml = metadata_download.fetch(source.metadata_url)
            apply_metadata(source, idp_metadata.read(xml), xml)
            source.metadata_fetched_at = timezone.now()
        elif source.metadata_xml.strip():
            apply_metadata(source, idp_metadata.read(source.metadata_xml), source.metadata_xml)
    except idp_metadata.MetadataProblem as problem:
        judgement.errors["metadata_url" if source.metadata_url else "metadata_xml"] = \
            str(problem)
        return judgement
    if not source.idp_entity_id.strip():
        judgement.errors["idp_entity_id"] = ("IdP entity id is empty: type the identity "
                                             "provider's entity id, or give its metadata.")
    if not source.sso_url.strip():
        judgement.errors["sso_url"] = ("SAML server address is empty: type the IdP's sign-in "
                                       "(SSO) address, or give its metadata.")
    if source.sso_binding not in Binding.values:
        judgement.errors["sso_binding"] = "Choose HTTP-Redirect or HTTP-POST."
    checked = certificates.check_certificates(source.certificate, now)
    if checked.errors:
        judgement.errors["certificate"] = " ".join(checked.errors)
    judgement.warnings.extend(checked.warnings)
    if source.user_key == UserKey.UNSPECIFIED and not source.identifier_attribute.strip():
        judgement.errors["identifier_attribute"] = (
            "Identifier attribute is empty: with the attribute user key, name the attribute "
            "that carries the person's unique user identifier (e.g. uid).")
    if source.create_people and not source.email_attribute.strip() \
            and source.user_key != UserKey.EMAIL:
        judgement.errors["email_attribute"] = (
            "Email attribute is empty: people created on first sign-in need an email; name "
            "the attribute that carries it, or turn creating people off.")
    return judgement


def ensure_key_pair(source: SamlSource) -> None:
    """Give the source its own SP key pair the first time it is saved."""
    if not source.sp_private_key_encrypted:
        private, certificate = keys.generate(f"Keystead SAML SP ({source.name})")
        source.set_sp_key_pair(private, certificate)


def missing(source: SamlSource) -> str | None:
    """What keeps ``source`` from being used for sign-in (for readiness), or None."""
    if not source.sp_private_key_encrypted:
        return f"The SAML source {source.name!r} has no SP key pair: save it in the console."
    checked = certificates.check_certificates(source.certificate,
                                              datetime.datetime.now(datetime.UTC))
    if checked.errors:
        return f"The SAML source {source.name!r} has no valid IdP certificate: " \
               + " ".join(checked.errors)
    if not source.idp_entity_id or not source.sso_url:
        return (f"The SAML source {source.name!r} lacks the IdP entity id or SSO address: "
                "give them, or the IdP's metadata, in the console.")
    return None
