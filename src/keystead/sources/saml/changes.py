"""Changing SAML sources: superusers only, checked, audited, all or nothing.

The source decides how everyone may sign in, so it is an installation-wide
setting (``authorization.require_installation_setting``). Every door that
saves one calls ``save_source``; the console is the one door today.
"One enabled source" and the unique name are database constraints as well, so a
simultaneous save that gets past the check is refused in the same words.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from keystead.directory import audit, authorization
from keystead.directory.models import User
from keystead.sources.saml import configuration
from keystead.sources.saml.models import SamlSource

EVENT = "saml_source.change"
EDITABLE = ("name", "enabled", "metadata_url", "metadata_xml", "metadata_refresh_hours",
            "idp_entity_id", "sso_url", "sso_binding", "certificate", "user_key",
            "identifier_attribute", "email_attribute", "given_name_attribute",
            "family_name_attribute", "create_people")
#: Filled in from the metadata when a metadata URL or XML is given.
FROM_METADATA = ("metadata_xml", "idp_entity_id", "sso_url", "sso_binding", "certificate",
                 "metadata_fetched_at")


class SourceRefused(ValueError):
    """Bad settings; ``problems`` maps each field to what is wrong and how to fix it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


def _apply(row: SamlSource, values: dict[str, Any]) -> None:
    for field in EDITABLE:
        value = values.get(field)
        setattr(row, field, value.strip() if isinstance(value, str) else value)


def check(values: dict[str, Any], *, exclude_pk: int | None = None) -> dict[str, str]:
    """What refuses ``values`` (field -> message), judged as ``save_source`` would, without
    writing anything: for a form to show before saving."""
    row = SamlSource()
    _apply(row, values)
    found = dict(configuration.complete(row).errors)
    found.update(_clashes(row, exclude_pk))
    return found


def _clashes(row: SamlSource, exclude_pk: int | None) -> dict[str, str]:
    """What another source already holds that ``row`` may not share (field -> message):
    the enabled place and the name, both unique in the database too.

    Asked before saving, and again when the database refuses the save because a
    simultaneous one took the place or the name in between: the same words either way."""
    found: dict[str, str] = {}
    others = SamlSource.objects.exclude(pk=exclude_pk) if exclude_pk else SamlSource.objects
    if row.enabled and others.filter(enabled=True).exists():
        found["enabled"] = "Another SAML identity provider is enabled; disable it first."
    if others.filter(name=row.name).exists():
        found["name"] = f"A SAML identity provider named {row.name!r} already exists."
    return found


def save_source(source: SamlSource | None, values: dict[str, Any], *, actor: User,
                request: HttpRequest | None = None) -> tuple[SamlSource, list[str]]:
    """Create (``source`` None) or change a source; returns it and the warnings to show
    (a certificate that expires within 30 days). Audited as ``saml_source.change``."""
    authorization.require_installation_setting(
        actor, event=EVENT, words="change SAML sources", request=request,
        detail={"source": source.name if source else values.get("name", "")})
    with transaction.atomic():
        row = (SamlSource.objects.select_for_update().get(pk=source.pk) if source and source.pk
               else SamlSource())
        created = row.pk is None
        before = {f: getattr(row, f) for f in (*EDITABLE, *FROM_METADATA)}
        _apply(row, values)
        judgement = configuration.complete(row)
        refused = {**judgement.errors, **_clashes(row, row.pk)}
        if refused:
            raise SourceRefused(refused)
        configuration.ensure_key_pair(row)
        changed = [f for f in before if created or before[f] != getattr(row, f)]
        if not changed:
            return row, judgement.warnings
        try:
            with transaction.atomic():  # a savepoint: the transaction can still ask why
                row.save()
        except IntegrityError:
            raise SourceRefused(
                _clashes(row, row.pk)
                or {"enabled": "Another SAML identity provider was enabled or named the same "
                               "at the same moment; reload and try again."}) from None
        audit.record(EVENT, request=request, actor=actor, target=row,
                     detail={"source": row.name, "created": created,
                             "changed": [f for f in changed if f != "metadata_xml"]
                             + (["metadata"] if "metadata_xml" in changed else [])})
    return row, judgement.warnings


def delete_source(source: SamlSource, *, actor: User, request: HttpRequest | None = None) -> None:
    authorization.require_installation_setting(actor, event=EVENT, words="delete SAML sources",
                                               request=request, detail={"source": source.name})
    with transaction.atomic():
        audit.record(EVENT, request=request, actor=actor, target=source,
                     detail={"source": source.name, "deleted": True})
        source.delete()
