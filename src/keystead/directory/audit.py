"""The one way to write an audit Event.

Every security decision in Keystead calls ``record``. It takes the actor,
client address and user agent from the request when there is one, and scrubs
the detail so a careless caller cannot store a secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from keystead import hot_sql
from keystead.directory.models import Event, Outcome, User
from keystead.secret import scrub

log = logging.getLogger("keystead.audit")


def client_ip(request: HttpRequest | None) -> str | None:
    """The caller's address, trusting X-Forwarded-For only for the configured proxy hops."""
    if request is None:
        return None
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return request.META.get("REMOTE_ADDR") or None


@dataclass(frozen=True)
class Target:
    """A target named without loading its model (a hot path that read it with plain SQL)."""

    type: str
    id: str
    label: str


def _describe_target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, Target):
        return target.type, target.id, target.label[:255]
    if isinstance(target, models.Model):
        return target._meta.model_name or "", str(target.pk), str(target)[:255]
    return type(target).__name__.lower(), "", str(target)[:255]


_EVENT_COLUMNS = (("created_at", "created_at"), ("action", "action"), ("outcome", "outcome"),
                  ("actor", "actor_id"), ("actor_label", "actor_label"),
                  ("target_type", "target_type"), ("target_id", "target_id"),
                  ("target_label", "target_label"), ("client_ip", "client_ip"),
                  ("user_agent", "user_agent"), ("detail", "detail"))


def record(action: str, **about: Any) -> Event:
    """Write one audit Event and mirror it to the ``keystead.audit`` logger.

    ``about`` names the request, actor, actor_label, target, outcome and detail, as
    ``build`` takes them.
    """
    row = build(action, **about)
    # One plain INSERT (``hot_sql``): events are written on every sign-in and token grant,
    # and the ORM's statement building cost more than the write. Events have no signals.
    # Inside ``hot_sql.transaction_writes_at_commit`` it goes with the commit (no id yet).
    pk = hot_sql.insert_at_commit(Event, row)
    mirror_to_log(row)
    event = Event(id=pk, **{attname: row[name] for name, attname in _EVENT_COLUMNS})
    event._state.adding, event._state.db = False, "default"  # as if the ORM had saved it
    return event


def build(
    action: str,
    *,
    request: HttpRequest | None = None,
    actor: User | None = None,
    actor_label: str = "",
    target: Any = None,
    outcome: str = Outcome.SUCCESS,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The row ``record`` would write (columns by field name, ``actor`` as an id), not
    written: for a caller that writes it as part of its own statement with ``hot_sql``
    (then calls ``mirror_to_log``). The detail is scrubbed here."""
    if actor is None and request is not None:
        candidate = getattr(request, "user", None)
        if candidate is not None and candidate.is_authenticated:
            actor = candidate
    if not actor_label:
        actor_label = getattr(request, "audit_actor_label", "") if request is not None else ""
    if not actor_label:
        actor_label = actor.email if actor is not None else "system"
    target_type, target_id, target_label = _describe_target(target)
    return {
        "created_at": timezone.now(),
        "action": action,
        "outcome": outcome,
        "actor": actor.pk if actor is not None and actor.pk else None,
        "actor_label": actor_label[:255],
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "client_ip": client_ip(request),
        "user_agent": (request.META.get("HTTP_USER_AGENT", "") if request is not None
                       else "")[:512],
        "detail": scrub(detail or {}),
    }


def mirror_to_log(row: dict[str, Any]) -> None:
    log.info("%s %s actor=%s target=%s:%s", row["action"], row["outcome"], row["actor_label"],
             row["target_type"], row["target_id"])
