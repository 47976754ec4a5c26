"""The console dashboard's numbers: a handful of bounded queries, and who may see what.

Every number is an installation-wide count (never a name), so any staff
member may see it; a number links to the list it counts only for someone who
may open that list. The warnings of ``keystead check`` that quote settings
(paths, hosts, the base URL) are shown to superusers only.

The queries stay few whatever the installation's size: one aggregate over
people, one over sessions, one grouped query for the 24 hourly buckets of
failed sign-ins, one count of applications, and the cheap health checks. The
arithmetic on their results is in ``dashboard`` (pure, tested without a
database).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.conf import settings
from django.contrib.admin import AdminSite
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncHour
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from oauth2_provider.models import get_application_model

from keystead import health_checks
from keystead.directory import dashboard
from keystead.directory.models import Event, User
from keystead.login import factors
from keystead.login.models import Passkey, SignedInSession, TotpDevice
from keystead.login.throttle import COUNTED as FAILED_SIGN_IN
from keystead.policy.lockout import locked_filter

# The query form of each enrolled factor's ``available(user)`` (``keystead.login.factors``,
# where ``enrolled_in_any`` asks one person at a time). Keyed by the factor's key, so a new
# factor that people enrol in fails here, and in the tests, until its query is added.
ENROLLED_QUERIES: dict[str, Callable[[], Exists]] = {
    "passkey": lambda: Exists(Passkey.objects.filter(user=OuterRef("pk"))),
    "totp": lambda: Exists(TotpDevice.objects.filter(user=OuterRef("pk"),
                                                     confirmed_at__isnull=False)),
}


def enrolled_filter() -> Q:
    """People holding at least one factor that every password sign-in then asks for."""
    q = Q(pk__in=[])
    for method in factors.all_methods():
        if method.enrolled:
            q |= Q(ENROLLED_QUERIES[method.key]())
    return q


@dataclass(frozen=True)
class Counts:
    people: int  # active accounts
    disabled: int
    locked: int  # locks in force now, active or not (as the user list's "locked" filter)
    enrolled: int  # active people with a second factor of their own
    sessions: int
    signed_in: int  # distinct people behind those sessions
    applications: int


def counts(now: datetime) -> Counts:
    """The dashboard's numbers: three queries."""
    active = Q(is_active=True)
    people = User.objects.aggregate(
        people=Count("pk", filter=active), disabled=Count("pk", filter=~active),
        locked=Count("pk", filter=locked_filter(now)),
        enrolled=Count("pk", filter=active & enrolled_filter()))
    live = dashboard.live_session_expiry(now, settings.SESSION_COOKIE_AGE,
                                         settings.SESSION_IDLE_SECONDS)
    sessions = SignedInSession.objects.filter(session__expire_date__gt=live).aggregate(
        sessions=Count("pk"), signed_in=Count("user", distinct=True))
    return Counts(**people, **sessions, applications=get_application_model().objects.count())


def failed_sign_ins(now: datetime, zone: tzinfo) -> list[dashboard.HourCount]:
    """Failed sign-ins (password or second factor, as the throttle counts them) in each
    of the last 24 hours of ``zone``: one grouped query."""
    starts = dashboard.hour_starts(now, zone)
    rows = (Event.objects.filter(FAILED_SIGN_IN, created_at__gte=starts[0],
                                 created_at__lt=starts[-1] + dashboard.HOUR)
            .annotate(hour=TruncHour("created_at", tzinfo=zone))
            .order_by().values("hour").annotate(n=Count("pk")).values_list("hour", "n"))
    return dashboard.fill_hours(starts, dict(rows))


def warnings(user: User) -> list[health_checks.Finding]:
    """What ``keystead check`` would warn about (or fail), as far as ``user`` may read it."""
    checks = health_checks.FOR_EVERY_CONSOLE_USER
    if user.is_superuser:
        checks += health_checks.FOR_SUPERUSERS
    return [finding for finding in (check() for check in checks)
            if finding.status != health_checks.OK]


@dataclass(frozen=True)
class Figure:
    """One number on the dashboard, with the list it counts when the reader may open it."""

    key: str
    label: str
    value: str
    url: str = ""
    note: str = ""
    note_url: str = ""


def audit_log_url(site: AdminSite, since: datetime, until: datetime | None = None) -> str:
    """The audit log filtered to failed sign-ins from ``since`` (to ``until``).

    ``login*`` is every ``login…`` action; with outcome "failure" that is exactly
    the password and second-factor failures counted here (the others never fail:
    a throttled or refused step is "denied")."""
    params = {"action": "login*", "outcome": "failure",
              "since": since.astimezone(UTC).isoformat()}
    if until is not None:
        params["until"] = until.astimezone(UTC).isoformat()
    changelist = reverse("admin:directory_event_changelist", current_app=site.name)
    return f"{changelist}?{urlencode(params)}"


def index_context(request: HttpRequest, site: AdminSite) -> dict[str, Any]:
    """The ``dashboard`` entry of the console's front page context."""
    now, zone = timezone.now(), timezone.get_current_timezone()
    user = request.user
    found = counts(now)
    hours = failed_sign_ins(now, zone)
    may_see_people = user.has_perm("directory.view_user")
    may_see_events = user.has_perm("directory.view_event")
    app_opts = get_application_model()._meta
    may_see_apps = user.has_perm(f"{app_opts.app_label}.view_{app_opts.model_name}")

    def people_url(query: str) -> str:
        if not may_see_people:
            return ""
        return f"{reverse('admin:directory_user_changelist', current_app=site.name)}?{query}"

    rate = dashboard.percent(found.enrolled, found.people)
    figures = [
        Figure("people", "People", f"{found.people:,}", people_url("is_active__exact=1"),
               f"{found.disabled:,} disabled" if found.disabled else "none disabled",
               people_url("is_active__exact=0") if found.disabled else ""),
        Figure("locked", "Locked accounts", f"{found.locked:,}", people_url("locked=yes"),
               "locks in force now"),
        Figure("sessions", "Active sessions", f"{found.sessions:,}", "",
               f"{found.signed_in:,} {'person' if found.signed_in == 1 else 'people'} "
               "signed in"),
        Figure("failures", "Failed sign-ins", f"{sum(h.count for h in hours):,}",
               audit_log_url(site, hours[0].start) if may_see_events else "",
               "in the last 24 hours"),
        Figure("second-factor", "Second-factor enrolment",
               "—" if rate is None else f"{rate}%", "",
               f"{found.enrolled:,} of {found.people:,} active people have an authenticator "
               "app or a passkey"),
        Figure("applications", "Applications", f"{found.applications:,}",
               reverse(f"admin:{app_opts.app_label}_{app_opts.model_name}_changelist",
                       current_app=site.name) if may_see_apps else "",
               "OpenID Connect and OAuth clients"),
    ]
    rows = [(hour, audit_log_url(site, hour.start, hour.start + dashboard.HOUR)
             if may_see_events and hour.count else "") for hour in hours]
    return {"dashboard": {
        "figures": figures,
        "chart": dashboard.chart(hours),
        "hours": rows,
        "zone": timezone.localtime(now, zone).tzname(),
        "warnings": warnings(user),
        "settings_hidden": not user.is_superuser,
    }}
