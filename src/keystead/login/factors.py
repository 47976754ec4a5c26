"""The registry of second factors.

Each kind of second factor (emailed code, authenticator app, backup code,
passkey) registers one ``FactorMethod`` from its app's ``ready()``. The sign-in
flow, the portal and the console ask the registry which methods a person can
use, and never import a factor's models directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest

from keystead.directory import audit
from keystead.directory.authorization import Action, Actor, require
from keystead.directory.models import User
from keystead.login import remembered
from keystead.policy.services import effective_policy


@dataclass(frozen=True)
class FactorMethod:
    key: str  # "email", "totp", "backup", "passkey"; recorded in audit events
    label: str  # what the person sees: "Code from your authenticator app"
    url_name: str  # the view that verifies this factor during sign-in
    available: Callable[[User], bool]  # can this person use it right now?
    reset: Callable[[User], int]  # remove the person's enrolment; returns how many removed
    order: int = 50  # strongest first on the chooser page
    strong: bool = True  # False for emailed codes: refused where a group wants strong factors
    # Set up by the person (an authenticator app, a passkey): once they have one, every
    # password sign-in asks for a factor, whatever the strategy.
    enrolled: bool = False


_REGISTRY: dict[str, FactorMethod] = {}


def register(method: FactorMethod) -> None:
    _REGISTRY[method.key] = method


def all_methods() -> list[FactorMethod]:
    return sorted(_REGISTRY.values(), key=lambda m: (m.order, m.key))


def methods_for(user: User) -> list[FactorMethod]:
    """The methods this person can use now, leaving out weak ones where a group forbids them."""
    strong_only = effective_policy(user).strong_factors_only
    return [m for m in all_methods() if m.available(user) and (m.strong or not strong_only)]


def enrolled_in_any(user: User) -> bool:
    """Whether the person set up a factor that every password sign-in then asks for."""
    return any(m.enrolled and m.available(user) for m in all_methods())


def offers(user: User, key: str) -> bool:
    """Whether the sign-in may use method ``key`` for this person (checked by its own page)."""
    return any(m.key == key for m in methods_for(user))


def get(key: str) -> FactorMethod | None:
    return _REGISTRY.get(key)


@transaction.atomic
def reset_second_factors(user: User, *, actor: Actor, request: HttpRequest | None = None,
                         door: str = "api") -> dict[str, int]:
    """Remove every second factor the person enrolled and forget their remembered browsers;
    how many of each factor were removed."""
    require(actor, Action.RESET_FACTORS, user)
    removed = {m.key: m.reset(user) for m in all_methods()}
    browsers = remembered.revoke_all(user, request=request, reason="second factors reset",
                                     door=door)
    audit.record("user.second_factors.reset", request=request, target=user,
                 detail={"door": door, "removed": removed, "remembered_browsers": browsers})
    return removed
