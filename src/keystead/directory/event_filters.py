"""Which audit events a reader asked for: one set of criteria for the console, CLI and API.

"Person", "actor", "action" and "client address" mean the same at every door
because every door turns what it was given into an ``EventCriteria`` and lets
the criteria filter the events. Building criteria checks them and needs no
database, so a bad value is refused with a message that names the field
before any query runs. Only ``q()`` (and ``apply``) turn them into a query.

The rules:

* ``since`` is inclusive and ``until`` exclusive, so consecutive ranges do not
  overlap; a date alone means its midnight (UTC).
* ``person`` is someone the event was about *or* who acted, found by email or
  user name as sign-in finds them; the labels stored on the event also match,
  so a deleted person's history stays findable.
* ``actor`` is who acted: a person (email or user name), or a label such as
  ``system`` or ``anonymous``.
* ``action`` is exact (``login``), or a prefix when it ends in ``.`` or ``*``
  (``user.`` and ``user.*`` both find every ``user.…`` event).
* ``client`` is an address (``192.0.2.7``) or a network (``10.0.0.0/8``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from django.db import NotSupportedError
from django.db.models import CharField, F, Lookup, Q, QuerySet
from django.db.models.functions import Cast

from keystead.directory.models import Event, Outcome, User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.timespec import ACCEPTED_FORMS, TimespecError, parse_since

# Longest accepted text per field: the width of the column it is compared with.
_MAX_LENGTH = {"person": 255, "actor": 255, "action": 64, "target_type": 64, "target_id": 64,
               "client": 64}
TEXT_FIELDS = ("person", "actor", "action", "outcome", "client", "target_type", "target_id")
TIME_FIELDS = ("since", "until")
FIELDS = TIME_FIELDS + TEXT_FIELDS
OUTCOMES = tuple(Outcome.values)
CLIENT_EXAMPLES = "192.0.2.7, 2001:db8::1 or a network such as 10.0.0.0/8"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EventFilterError(RuleViolation):
    """One criterion is not valid; ``field`` names it and the message says how to fix it.

    A ``RuleViolation``, so the REST API answers it as any other bad input (400
    with the field), the CLI names the option and the console the box.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__([FieldProblem(field, message)])


def action_rule(text: str) -> tuple[str, str]:
    """``("exact", "login")`` or ``("prefix", "user.")`` for an action criterion.

    ``user.*`` and ``user.`` are the same prefix; a ``*`` anywhere but at the end
    is refused rather than silently taken literally.
    """
    if text.endswith("*"):
        prefix = text[:-1]
        kind = "prefix"
    else:
        prefix = text
        kind = "prefix" if text.endswith(".") else "exact"
    if "*" in prefix:
        raise EventFilterError("action", f"{text!r}: a * may only end a prefix, as in user.*")
    if not prefix:
        raise EventFilterError("action", "name an action such as login, or a prefix such as "
                                         "user.* (leave it empty for every action)")
    return kind, prefix


def client_rule(text: str) -> IpAddress | IpNetwork:
    """The address or network a client criterion names (``10.0.0.5/8`` is ``10.0.0.0/8``)."""
    try:
        if "/" in text:
            return ipaddress.ip_network(text, strict=False)
        return ipaddress.ip_address(text)
    except ValueError:
        raise EventFilterError(
            "client", f"{text!r} is not an IP address or network; use one such as "
                      f"{CLIENT_EXAMPLES}") from None


@dataclass(frozen=True)
class EventCriteria:
    """What to keep; an empty field keeps everything. Checked when built."""

    since: datetime | None = None
    until: datetime | None = None
    person: str = ""
    actor: str = ""
    action: str = ""
    outcome: str = ""
    client: str = ""
    target_type: str = ""
    target_id: str = ""

    def __post_init__(self) -> None:
        for name in TEXT_FIELDS:
            value = getattr(self, name)
            value = "" if value is None else str(value).strip()
            if "\x00" in value:
                raise EventFilterError(name, "must not contain NUL characters")
            if len(value) > _MAX_LENGTH.get(name, 64):
                raise EventFilterError(
                    name, f"is {len(value)} characters; at most {_MAX_LENGTH.get(name, 64)} "
                          "can match anything")
            object.__setattr__(self, name, value)
        for name in TIME_FIELDS:
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                object.__setattr__(self, name, moment.replace(tzinfo=UTC))
        if self.since and self.until and self.until <= self.since:
            raise EventFilterError("until", f"{self.until.isoformat()} is not after since "
                                            f"({self.since.isoformat()}); no event fits")
        if self.outcome and self.outcome not in OUTCOMES:
            raise EventFilterError("outcome", f"{self.outcome!r} is not an outcome; use "
                                              f"{', '.join(OUTCOMES)}")
        if self.action:
            action_rule(self.action)
        if self.client:
            client_rule(self.client)

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def as_params(self) -> dict[str, str]:
        """The criteria given, as text (times in ISO UTC): for links and the audit record."""
        params = {}
        for name in FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                params[name] = value.astimezone(UTC).isoformat()
            elif value:
                params[name] = value
        return params

    def q(self) -> Q:
        """The criteria as one ``Q`` on ``Event``; building it runs no query."""
        q = Q()
        if self.since is not None:
            q &= Q(created_at__gte=self.since)
        if self.until is not None:
            q &= Q(created_at__lt=self.until)
        if self.action:
            kind, text = action_rule(self.action)
            q &= Q(action__startswith=text) if kind == "prefix" else Q(action=text)
        if self.outcome:
            q &= Q(outcome=self.outcome)
        if self.actor:
            q &= _acted_by(self.actor)
        if self.person:
            q &= _acted_by(self.person) | _about(self.person)
        if self.client:
            q &= _from_client(client_rule(self.client))
        if self.target_type:
            q &= Q(target_type=self.target_type)
        if self.target_id:
            q &= Q(target_id=self.target_id)
        return q

    def apply(self, events: QuerySet[Event]) -> QuerySet[Event]:
        return events.filter(self.q()) if not self.is_empty() else events


def parse_criteria(values: Mapping[str, Any], now: datetime) -> EventCriteria:
    """Criteria from text, as typed in the console or the CLI: times may be ``2h`` or ISO.

    Unknown keys are ignored so a caller can pass its whole query string.
    """
    given: dict[str, Any] = {}
    for name in FIELDS:
        raw = values.get(name)
        text = "" if raw is None else str(raw).strip()
        if not text:
            continue
        if name in TIME_FIELDS:
            try:
                given[name] = parse_since(text, now)
            except TimespecError:
                raise EventFilterError(name, f"{text!r} is not a time; use {ACCEPTED_FORMS}"
                                       ) from None
        else:
            given[name] = text
    return EventCriteria(**given)


def _people(name: str) -> QuerySet[User]:
    return User.objects.signing_in_as(name)


def _acted_by(name: str) -> Q:
    return Q(actor__in=_people(name).values("pk")) | Q(actor_label__iexact=name)


def _about(name: str) -> Q:
    # target_id is text (targets are not only people), so the ids are compared as text.
    ids = _people(name).annotate(text_id=Cast("pk", CharField())).values("text_id")
    return Q(target_type="user") & (Q(target_id__in=ids) | Q(target_label__iexact=name))


def _from_client(where: IpAddress | IpNetwork) -> Q:
    if isinstance(where, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return Q(client_ip=str(where))
    return Q(InNetwork(F("client_ip"), str(where)))


def address_in_network(address: str | None, network: str) -> bool | None:
    """Whether ``address`` lies in ``network``; the SQLite side of ``InNetwork``."""
    if address is None:
        return None
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: SQLite connections get ``keystead_in_network``."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("keystead_in_network", 2, address_in_network,
                                              deterministic=True)


class InNetwork(Lookup):
    """``client_ip`` lies in a network: PostgreSQL's ``inet <<=``; on SQLite a Python function.

    Used as an expression (``Q(InNetwork(F("client_ip"), "10.0.0.0/8"))``), not
    registered on the field, so only criteria that were checked reach it.
    """

    lookup_name = "in_network"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        raise NotSupportedError("Filtering events by network needs PostgreSQL or SQLite.")

    def _sides(self, compiler: Any, connection: Any) -> tuple[str, str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return lhs, rhs, [*lhs_params, *rhs_params]

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, rhs, params = self._sides(compiler, connection)
        return f"{lhs} <<= ({rhs})::inet", params

    def as_sqlite(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        # SQLite stores addresses as text; ``register_sqlite_functions`` gives every new
        # connection the function.
        lhs, rhs, params = self._sides(compiler, connection)
        return f"keystead_in_network({lhs}, {rhs})", params
