"""Registering, changing and removing SAML applications; rotating the IdP's key.

Every door (console, command line) comes here: the permission is checked, the
metadata is validated with pysaml2 before anything is written, and each change is
audited (``saml.application.*``, ``saml.key.rotate``) without metadata or keys.
The entity ID and the short name are unique in the database too: a simultaneous
save that gets past the check is refused in the same words, never an error page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from keystead import metadata_download
from keystead.columns import too_long_for
from keystead.directory import audit
from keystead.directory.authorization import Actor, NotAllowed, require_permission
from keystead.directory.models import Outcome
from keystead.providers.saml import keys, release, sp_metadata
from keystead.providers.saml.models import (
    AES256_CBC,
    AES256_GCM,
    EMAIL,
    PERSISTENT,
    RELEASABLE,
    UNSPECIFIED,
    SamlApplication,
)

CHANGE = "saml_idp.change_samlapplication"
ADD = "saml_idp.add_samlapplication"
DELETE = "saml_idp.delete_samlapplication"


class ApplicationRefused(ValueError):
    """Bad input; ``problems`` maps each field to a message that says how to fix it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass
class ApplicationSettings:
    """What an administrator decides about one application."""

    name: str
    slug: str
    metadata_xml: str = ""
    metadata_url: str = ""
    sign_response: bool = True
    sign_assertion: bool = True
    encryption: str = ""
    nameid_format: str = PERSISTENT
    attributes: dict[str, str] = field(default_factory=lambda: dict(RELEASABLE))
    relay_state: str = ""
    enabled: bool = True


def check(wanted: ApplicationSettings, current: SamlApplication | None
          ) -> tuple[str, sp_metadata.SpDescription]:
    """The metadata XML to store and what it says; every problem found, by field."""
    problems: dict[str, str] = {}
    if not wanted.name.strip():
        problems["name"] = "Give the application a name people will recognise."
    if not wanted.slug.strip():
        problems["slug"] = "Give a short name of letters, digits and hyphens."
    if wanted.nameid_format not in (PERSISTENT, EMAIL, UNSPECIFIED):
        problems["nameid_format"] = "Choose persistent, email address or unspecified."
    if wanted.encryption not in ("", AES256_CBC, AES256_GCM):
        problems["encryption"] = "Choose no encryption, AES-256-CBC or AES-256-GCM."
    if not (wanted.sign_response or wanted.sign_assertion):
        problems["sign_response"] = ("Sign the response, the assertion or both: an unsigned "
                                     "answer could be forged by anyone.")
    unknown = sorted(set(wanted.attributes) - set(RELEASABLE))
    if unknown:
        problems["attributes"] = (f"Unknown attributes {', '.join(unknown)}: choose from "
                                  f"{', '.join(RELEASABLE)}.")
    names = [n for n in wanted.attributes.values() if n]
    if len(names) != len(set(names)):
        problems["attributes"] = "Two attributes have the same SAML name: give each its own."
    xml = wanted.metadata_xml
    description = None
    try:
        if wanted.metadata_url and not xml.strip():
            xml = metadata_download.fetch(wanted.metadata_url)
        description = _storable(sp_metadata.describe(xml))
    except sp_metadata.MetadataProblem as problem:
        problems["metadata_url" if wanted.metadata_url and not wanted.metadata_xml.strip()
                 else "metadata_xml"] = str(problem)
    if description is not None and wanted.encryption \
            and not description.has_encryption_certificate:
        problems["encryption"] = ("The SP's metadata has no encryption certificate: add one "
                                  "to its metadata, or turn encryption off.")
    problems.update(_clashes(current, description.entity_id if description else "",
                             wanted.slug))
    if problems:
        raise ApplicationRefused(problems)
    assert description is not None  # no problem means the metadata was read
    return xml, description


def _storable(description: sp_metadata.SpDescription) -> sp_metadata.SpDescription:
    """``description``, when its entity ID fits the column it is stored in: the metadata
    may say anything, and a too-long value would otherwise fail the save itself."""
    if limit := too_long_for(SamlApplication, "entity_id", description.entity_id):
        raise sp_metadata.MetadataProblem(
            f"The metadata's entityID is {len(description.entity_id)} characters long; the "
            f"entity ID may be at most {limit}: check that this is the SP's own metadata, or "
            "give the SP a shorter entity ID.")
    return description


def _others(current: SamlApplication | None) -> QuerySet[SamlApplication]:
    if current is None or current.pk is None:
        return SamlApplication.objects.all()
    return SamlApplication.objects.exclude(pk=current.pk)


def _clashes(current: SamlApplication | None, entity_id: str, slug: str) -> dict[str, str]:
    """Which unique value another application already holds (field -> message).

    Asked before saving, and again when the database refuses the save because a
    simultaneous one took the value in between: the same words either way."""
    found: dict[str, str] = {}
    others = _others(current)
    if entity_id and others.filter(entity_id=entity_id).exists():
        found["metadata_xml"] = (f"Another application is registered with the entity ID "
                                 f"{entity_id}: change that one instead.")
    if slug and others.filter(slug=slug).exists():
        found["slug"] = "Another application has this short name: choose another."
    return found


def _apply(application: SamlApplication, wanted: ApplicationSettings, xml: str,
           description: sp_metadata.SpDescription) -> None:
    for name in ("name", "slug", "metadata_url", "sign_response", "sign_assertion",
                 "encryption", "nameid_format", "relay_state", "enabled"):
        setattr(application, name, getattr(wanted, name))
    application.attributes = {k: v for k, v in wanted.attributes.items() if v}
    application.metadata_xml = xml
    application.entity_id = description.entity_id


def _summary(application: SamlApplication) -> dict:
    return {"application": application.slug, "entity_id": application.entity_id[:300],
            "nameid_format": application.nameid_format,
            "attributes": sorted(application.attributes), "encryption": application.encryption,
            "sign_response": application.sign_response,
            "sign_assertion": application.sign_assertion}


def _save(application: SamlApplication, wanted: ApplicationSettings, action: str, *,
          actor: Actor, request: HttpRequest | None) -> SamlApplication:
    """Check ``wanted`` against ``application``, then write it and its audit event together."""
    xml, description = check(wanted, None if application.pk is None else application)
    _apply(application, wanted, xml, description)
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the transaction can still ask why
                application.save()
        except IntegrityError:
            raise ApplicationRefused(
                _clashes(application, application.entity_id, application.slug)
                or {"slug": "Another application took this short name or entity ID at the "
                            "same moment; reload and try again."}) from None
        audit.record(action, request=request, actor=actor.user, actor_label=actor.label,
                     target=application, detail=_summary(application))
    return application


def register(wanted: ApplicationSettings, *, actor: Actor, request: HttpRequest | None = None
             ) -> SamlApplication:
    require_permission(actor, ADD, "register SAML applications", "saml.application.register",
                       request, {"application": wanted.slug})
    return _save(SamlApplication(persistent_key=release.new_persistent_key()), wanted,
                 "saml.application.register", actor=actor, request=request)


def change(application: SamlApplication, wanted: ApplicationSettings, *, actor: Actor,
           request: HttpRequest | None = None) -> SamlApplication:
    require_permission(actor, CHANGE, "change SAML applications", "saml.application.change",
                       request, {"application": application.slug})
    return _save(application, wanted, "saml.application.change", actor=actor, request=request)


def delete(application: SamlApplication, *, actor: Actor,
           request: HttpRequest | None = None) -> None:
    require_permission(actor, DELETE, "delete SAML applications", "saml.application.delete",
                       request, {"application": application.slug})
    with transaction.atomic():
        audit.record("saml.application.delete", request=request, actor=actor.user,
                     actor_label=actor.label, target=application,
                     detail={"application": application.slug})
        application.delete()


def rotate_key(*, actor: Actor, overlap: dt.timedelta = keys.DEFAULT_OVERLAP,
               request: HttpRequest | None = None) -> keys.SigningKey:
    """Make the IdP's next signing key (see ``keys.rotate``); superusers and the operator."""
    if not actor.superuser:
        audit.record("saml.key.rotate", request=request, actor=actor.user,
                     actor_label=actor.label, outcome=Outcome.DENIED,
                     detail={"reason": "only a superuser may rotate the signing key"})
        raise NotAllowed("Only a superuser may rotate the SAML signing key.")
    with transaction.atomic():
        old, new = keys.rotate(overlap)
        audit.record("saml.key.rotate", request=request, actor=actor.user,
                     actor_label=actor.label, target=new,
                     detail={"signs_from": new.signs_from.isoformat(),
                             "old_key": old.pk if old else None,
                             "old_published_until": (old.published_until.isoformat()
                                                     if old and old.published_until else None)})
    return new
