"""The one way to write an audit Event.

Every security decision in Keystead calls ``record``. It takes the actor,
client address and user agent from the request when there is one, and scrubs
the detail so a careless caller cannot store a secret.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest

from keystead.directory.authorization import NotAllowed
from keystead.directory.models import Event, Outcome, User
from keystead.json_text import storable
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


def _describe_target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return target._meta.model_name or "", str(target.pk), str(target)[:255]
    return type(target).__name__.lower(), "", str(target)[:255]


def record(
    action: str,
    *,
    request: HttpRequest | None = None,
    actor: User | None = None,
    actor_label: str = "",
    target: Any = None,
    outcome: str = Outcome.SUCCESS,
    detail: dict[str, Any] | None = None,
) -> Event:
    """Write one audit Event and mirror it to the ``keystead.audit`` logger.

    The actor defaults to the request's signed-in person; the detail is scrubbed here.
    """
    if actor is None and request is not None:
        candidate = getattr(request, "user", None)
        if candidate is not None and candidate.is_authenticated:
            actor = candidate
    if not actor_label:
        actor_label = getattr(request, "audit_actor_label", "") if request is not None else ""
    if not actor_label:
        actor_label = actor.email if actor is not None else "system"
    target_type, target_id, target_label = _describe_target(target)
    event = Event.objects.create(
        action=action,
        outcome=outcome,
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor_label[:255],
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        client_ip=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request is not None
                    else "")[:512],
        detail=storable(scrub(detail or {})),
    )
    # The log line follows the row: written once the transaction commits, never for an
    # event a rollback took back (at once outside a transaction).
    transaction.on_commit(lambda: log.info("%s %s actor=%s target=%s:%s", action, outcome,
                                           event.actor_label, target_type, target_id),
                          robust=True)
    return event


def refused(action: str, request: HttpRequest, reason: str) -> Event:
    """A door's record of a request it refused (``authorization.NotAllowed``) whose refusal
    no service recorded for good: which request, and the refusal in its own words."""
    return record(action, request=request, outcome=Outcome.DENIED,
                  detail={"method": request.method, "path": request.path, "reason": reason})


def refusal_answered(action: str, request: HttpRequest, exc: NotAllowed) -> None:
    """What a door does with a refusal it answers: one event for it, the service's own if
    the service recorded it for good (``NotAllowed.audited``), else the door's ``action``."""
    if not exc.audited:
        refused(action, request, str(exc))
