"""Everything the console knows about one person, as plain data for their page.

The person's page (``admin_users``) shows their whole picture in one place:
groups and admin roles, second factors, remembered browsers, live sessions,
applications, accounts on connected systems, computers and recent audit events. Each
section is read here, through the module that owns the data (``login.sessions``,
``login.remembered``, ``providers.oidc.live_tokens``,
``provisioning.person_accounts``, ``devices.person_computers``, ...), so the page
agrees with the portal and the application pages on what "live" means, and each
section is tested without HTML.

Nothing here returns a secret: no password hash, no session key (sessions are
named by ``sessions.session_handle``), no token value, no factor seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse

from keystead.devices.person_computers import PersonComputer, computers_of
from keystead.directory.admin_site import short_time
from keystead.directory.models import Event, Outcome, User
from keystead.login import backup_codes, remembered, sessions, totp
from keystead.login.sessions import OwnSession
from keystead.providers.oidc import live_tokens
from keystead.provisioning.person_accounts import PersonAccount, accounts_of

#: How many recent audit events the page lists; the audit log link finds the rest.
RECENT_EVENTS = 20
#: Live tokens read per person; more than this many is summed up, not listed.
TOKEN_LIMIT = 100


@dataclass(frozen=True)
class Named:
    """A group or an admin role: its name and, when the viewer may open it, its page."""

    name: str
    url: str = ""


@dataclass(frozen=True)
class Factor:
    """One enrolled second factor: an authenticator app, a passkey or a set of backup codes."""

    kind: str  # "Authenticator app", "Passkey", "Backup codes"
    name: str
    added: datetime | None
    last_used: datetime | None


@dataclass(frozen=True)
class Browser:
    """A browser remembered after a second factor, until ``expires``."""

    browser: str
    ip: str
    remembered_at: datetime
    expires: datetime
    last_used: datetime | None


@dataclass(frozen=True)
class ApplicationAccess:
    """One application the person holds live tokens for (their standing consent)."""

    name: str
    client_id: str
    url: str  # the application's console page; "" if the viewer may not open it
    scopes: tuple[str, ...]  # every scope of the person's live tokens, sorted
    tokens: int
    first_issued: datetime
    usable_until: datetime | None  # None: a refresh token without a lifetime limit
    consent_given: datetime | None  # the newest consent the person gave on the consent page


@dataclass(frozen=True)
class RecentEvent:
    created_at: datetime
    action: str
    outcome: str
    actor: str
    about_them: bool  # the event was about this person (else they acted on someone else)
    url: str


@dataclass(frozen=True)
class Overview:
    password: str
    directory_groups: list[Named] = field(default_factory=list)
    admin_roles: list[Named] = field(default_factory=list)
    factors: list[Factor] = field(default_factory=list)
    browsers: list[Browser] = field(default_factory=list)
    sessions: list[OwnSession] = field(default_factory=list)
    applications: list[ApplicationAccess] = field(default_factory=list)
    tokens_not_listed: int = 0  # live tokens beyond ``TOKEN_LIMIT``, counted only
    accounts: list[PersonAccount] = field(default_factory=list)
    accounts_not_listed: int = 0  # accounts beyond ``person_accounts.ACCOUNT_LIMIT``
    computers: list[PersonComputer] = field(default_factory=list)
    computers_not_listed: int = 0  # beyond ``person_computers.COMPUTER_LIMIT``
    events: list[RecentEvent] = field(default_factory=list)
    audit_log_url: str = ""


def password_state(user: User) -> str:
    """The password in one line: whether there is one and since when, never how it is stored."""
    if not user.has_usable_password():
        return "No password: this person cannot sign in with a password until one is set."
    if user.password_changed_at is None:
        return "Password set (the date was not recorded)."
    return f"Password set on {short_time(user.password_changed_at)}."


def _named(rows, url_name: str | None) -> list[Named]:
    return [Named(row.name, reverse(url_name, args=[row.pk]) if url_name else "")
            for row in rows]


def directory_groups(user: User, *, link: bool = False) -> list[Named]:
    """The directory groups the person is a member of (what applications see), by name."""
    return _named(user.directory_groups.order_by("name"),
                  "admin:directory_group_change" if link else None)


def admin_roles(user: User, *, link: bool = False) -> list[Named]:
    """The admin roles the person holds: bundles of console permissions, by name."""
    return _named(user.groups.order_by("name"),
                  "admin:directory_adminrole_change" if link else None)


def second_factors(user: User) -> list[Factor]:
    """Authenticator apps, passkeys and unused backup codes, in the order they were added."""
    found = [Factor("Authenticator app", device.name, device.confirmed_at, device.last_used_at)
             for device in totp.active_devices(user).order_by("confirmed_at", "pk")]
    found += [Factor("Passkey", key.name, key.created_at, key.last_used_at)
              for key in user.passkeys.order_by("created_at", "pk")]
    left = backup_codes.remaining(user)
    if left:
        codes = user.backup_codes.all()
        added = codes.order_by("created_at").values_list("created_at", flat=True).first()
        used = (codes.filter(used_at__isnull=False).order_by("-used_at")
                .values_list("used_at", flat=True).first())
        found.append(Factor("Backup codes", f"{left} unused", added, used))
    return found


def remembered_browsers(user: User) -> list[Browser]:
    """Browsers that still skip the second factor for this person, the newest first."""
    # Stored already described ("Firefox on Linux") when the browser was remembered.
    return [Browser(row.user_agent or "Unknown browser", row.ip or "", row.created_at,
                    row.expires_at, row.last_used_at)
            for row in remembered.live_for(user).order_by("-created_at", "-pk")]


def active_sessions(user: User) -> list[OwnSession]:
    """The person's live browser sessions, the newest sign-in first (as the portal lists them)."""
    return sessions.sessions_of(user)


def _consents(user: User) -> dict[str, datetime]:
    """When the person last agreed on the consent page, per client id."""
    given: dict[str, datetime] = {}
    for client_id, when in (Event.objects.filter(
            action="oidc.consent", outcome=Outcome.SUCCESS, target_type="user",
            target_id=str(user.pk)).order_by("created_at")
            .values_list("detail__client_id", "created_at")):
        if client_id:
            given[str(client_id)] = when
    return given


def applications(user: User, *, link: bool = False) -> tuple[list[ApplicationAccess], int]:
    """Applications with the person's live tokens, by name; and live tokens not read.

    A live token is ``live_tokens``' definition (the application pages use the same),
    and it is the person's standing consent: while it lives the application acts for them.
    """
    live = live_tokens.of_person(user, limit=TOKEN_LIMIT)
    consents = _consents(user)
    by_app: dict[int, list[live_tokens.LiveToken]] = {}
    for row in live.rows:
        by_app.setdefault(row.application.pk, []).append(row)
    found = []
    for rows in by_app.values():
        app = rows[0].application
        ends = [row.expires for row in rows]
        found.append(ApplicationAccess(
            name=app.name or app.client_id, client_id=app.client_id,
            url=reverse("admin:oauth2_provider_application_change", args=[app.pk]) if link
            else "",
            scopes=tuple(sorted({scope for row in rows for scope in row.scopes})),
            tokens=len(rows), first_issued=min(row.issued for row in rows),
            usable_until=None if None in ends else max(e for e in ends if e is not None),
            consent_given=consents.get(app.client_id)))
    found.sort(key=lambda a: (a.name.lower(), a.client_id))
    return found, live.count - len(live.rows)


def audit_log_url(user: User) -> str:
    """The audit log filtered to events by or about this person."""
    return f"{reverse('admin:directory_event_changelist')}?{urlencode({'person': user.email})}"


def recent_events(user: User, limit: int = RECENT_EVENTS) -> list[RecentEvent]:
    """The newest events the person did or that were about them, each with its page."""
    about = Q(target_type="user", target_id=str(user.pk))
    rows = Event.objects.filter(about | Q(actor=user)).order_by("-created_at", "-pk")[:limit]
    return [RecentEvent(
        created_at=event.created_at, action=event.action, outcome=event.outcome,
        actor=event.actor_label or "system",
        about_them=event.target_type == "user" and event.target_id == str(user.pk),
        url=reverse("admin:directory_event_change", args=[event.pk])) for event in rows]


def overview(user: User, *, link_groups: bool = False, link_roles: bool = False,
             link_applications: bool = False, link_systems: bool = False,
             link_operations: bool = False, link_computers: bool = False,
             with_events: bool = False) -> Overview:
    """The whole picture of ``user``; ``link_*`` adds page links the viewer may follow,
    ``with_events`` the recent audit events, for a viewer who may read the audit log."""
    apps, not_listed = applications(user, link=link_applications)
    accounts, accounts_not_listed = accounts_of(user, link_systems=link_systems,
                                                link_operations=link_operations)
    computers, computers_not_listed = computers_of(user, link=link_computers)
    return Overview(
        password=password_state(user),
        directory_groups=directory_groups(user, link=link_groups),
        admin_roles=admin_roles(user, link=link_roles),
        factors=second_factors(user),
        browsers=remembered_browsers(user),
        sessions=active_sessions(user),
        applications=apps,
        tokens_not_listed=not_listed,
        accounts=accounts,
        accounts_not_listed=accounts_not_listed,
        computers=computers,
        computers_not_listed=computers_not_listed,
        events=recent_events(user) if with_events else [],
        audit_log_url=audit_log_url(user),
    )
