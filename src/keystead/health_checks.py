"""The installation's health checks: plain functions, each returning one ``Finding``.

``keystead check`` prints all of them (with the database, migration and Django
system checks that only make sense from a command line), and the console's
dashboard shows the warnings among them, so an operator reads the same words
in both places. Each check imports Django lazily: the command line can start
without a configuration and still report what is wrong with it.

The dashboard runs the checks on every visit to the console's front page, so
a check listed in ``FOR_EVERY_CONSOLE_USER`` or ``FOR_SUPERUSERS`` must be
cheap: a file stat, a few indexed queries, no network.
"""

from __future__ import annotations

import ipaddress
import stat
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Finding:
    status: str
    topic: str
    message: str
    fix: str = ""


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: an address only this computer can reach."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secret_key() -> Finding:
    from django.conf import settings

    from keystead import config

    if config.env("KEYSTEAD_SECRET_KEY"):
        if len(settings.SECRET_KEY) < 50:
            return Finding(WARN, "secret key", "KEYSTEAD_SECRET_KEY is shorter than 50 characters",
                           "use a long random value, e.g. "
                           "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`")
        return Finding(OK, "secret key", "from KEYSTEAD_SECRET_KEY")
    path = settings.DATA_DIR / "secret_key"
    if not path.exists():
        return Finding(FAIL, "secret key", f"{path} is missing",
                       "set KEYSTEAD_SECRET_KEY, or let Keystead create the file "
                       "(KEYSTEAD_DATA_DIR must be writable)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Finding(FAIL, "secret key", f"{path} has mode {mode:04o}: other users may read it",
                       f"chmod 600 {path}")
    return Finding(OK, "secret key", f"generated file {path} (mode 0600)")


def check_base_url() -> Finding:
    from django.conf import settings

    url = settings.BASE_URL
    parts = urlsplit(url)
    if parts.scheme == "https":
        return Finding(OK, "base URL", f"{url} uses https")
    if is_loopback(parts.hostname or ""):
        return Finding(OK, "base URL", f"{url} (plain http, reachable only from this computer)")
    return Finding(WARN, "base URL", f"{url} is plain http on a network address: "
                   "passwords and session cookies cross the network readable",
                   "serve behind a TLS proxy and set KEYSTEAD_BASE_URL=https://...")


def check_mail() -> Finding:
    from django.conf import settings

    if not settings.EMAIL_CONFIGURED:
        return Finding(WARN, "mail", "no mail server: set KEYSTEAD_EMAIL_URL=smtp://..., "
                       "password-reset mail will only be printed",
                       "e.g. KEYSTEAD_EMAIL_URL=smtp+starttls://user:pass@mail.example.com:587")
    return Finding(OK, "mail", f"SMTP server {settings.EMAIL_HOST}:{settings.EMAIL_PORT}")


def check_admins() -> Finding:
    from keystead.directory.models import User

    count = User.objects.filter(is_superuser=True, is_active=True).count()
    if not count:
        return Finding(FAIL, "administrators", "no active administrator: nobody can manage "
                       "this installation", "run `keystead createadmin`")
    return Finding(OK, "administrators", f"{count} active")


def check_debug() -> Finding:
    from django.conf import settings

    if not settings.DEBUG:
        return Finding(OK, "debug", "off")
    if is_loopback(urlsplit(settings.BASE_URL).hostname or ""):
        return Finding(WARN, "debug", "on: error pages show settings and code",
                       "unset KEYSTEAD_DEBUG before exposing this installation")
    return Finding(FAIL, "debug", "on for a network-reachable address: error pages show "
                   "settings and code to anyone", "unset KEYSTEAD_DEBUG")


def check_password_screening() -> Finding:
    """Which password screening is active: the built-in list, zxcvbn and its minimum score,
    the breach filter. Screening falls back to the built-in list when the operator's filter
    cannot be used, so this is where a broken one is noticed."""
    from django.conf import settings
    from django.db import DatabaseError

    from keystead.cli.password_filter import one_in
    from keystead.policy.models import LogonPolicy
    from keystead.policy.rules import MAX_STRENGTH, PasswordRules
    from keystead.policy.screening import BloomFilter, builtin_list

    try:
        rules = (LogonPolicy.objects.filter(pk=1).first() or LogonPolicy()).password_rules()
        source = "installation policy; group policies may be stricter"
    except DatabaseError:
        rules, source = PasswordRules(), "defaults: the database does not answer"
    status, fixes = OK, []
    lists = f"common-password list ({len(builtin_list()):,} built in)"
    if not rules.screen_common:
        status = WARN
        lists = "common-password list and breach filter: off (screen_common=false)"
        fixes.append("`keystead policy set screen_common=true` (NIST requires screening)")
    path = settings.PASSWORD_FILTER_FILE
    if not path:
        breach = "breach filter: not configured (see `keystead password-filter build`)"
    else:
        try:
            bloom = BloomFilter.open(path)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            return Finding(FAIL, "password screening", f"KEYSTEAD_PASSWORD_FILTER={path} cannot "
                           f"be used ({reason}); only the built-in list is checked",
                           "build it with `keystead password-filter build FILE --output PATH`, "
                           "or unset KEYSTEAD_PASSWORD_FILTER")
        breach = (f"breach filter {path} ({bloom.estimated_entries():,} entries, about "
                  f"{one_in(bloom.false_positive_rate())} false positives)")
    if rules.min_strength:
        guess = f"guessability (zxcvbn) minimum score {rules.min_strength} of {MAX_STRENGTH}"
    else:
        status = WARN
        guess = "guessability (zxcvbn): off (min_strength=0)"
        fixes.append("`keystead policy set min_strength=3`")
    if rules.screen_common:
        lists = f"{lists}, {breach}"
    return Finding(status, "password screening", f"{lists}; {guess} ({source})",
                   "; ".join(fixes))


def check_mail_outbox() -> Finding:
    """Mail is sent in the background, so a failing mail server shows up here, not as an
    error page: mail given up on in the last 7 days, or waiting for over 15 minutes."""
    from django.db import DatabaseError

    from keystead.login import outbox

    try:
        state = outbox.health()
    except DatabaseError:
        return Finding(WARN, "mail outbox", "not checked until the database answers and is "
                       "migrated")
    problems = []
    if state.failed:
        problems.append(f"{state.failed} mail(s) given up on in the last 7 days")
    if state.stuck:
        problems.append(f"{state.stuck} mail(s) waiting for more than 15 minutes")
    if problems:
        last = f" (last error: {state.last_error})" if state.last_error else ""
        return Finding(WARN, "mail outbox", "; ".join(problems) + last,
                       "see `keystead mail list`; check KEYSTEAD_EMAIL_URL and that the mail "
                       "server answers, then `keystead mail send-pending`")
    return Finding(OK, "mail outbox", "nothing failed or stuck")


def check_backchannel_logouts() -> Finding:
    """Back-channel logouts are sent in the background, so an application that never
    hears that a person signed out shows up here: logouts given up on in the last 7 days."""
    from django.db import DatabaseError

    from keystead.providers.oidc import backchannel

    try:
        failed, latest = backchannel.given_up()
    except DatabaseError:
        return Finding(WARN, "back-channel logout", "not checked until the database answers "
                       "and is migrated")
    if failed:
        return Finding(WARN, "back-channel logout",
                       f"{failed} logout(s) given up on in the last 7 days (latest: {latest})",
                       "check that the application's back-channel logout URI answers; the "
                       "audit log lists each attempt (oidc.backchannel_logout)")
    return Finding(OK, "back-channel logout", "nothing given up on")


def check_housekeeping() -> Finding:
    """Housekeeping runs in the background (hourly, in the provisioning workers), so one
    that fails, or stopped happening because no worker runs, shows up here: a warning
    when the latest run failed or started more than a day ago. One row, read by key."""
    from datetime import timedelta

    from django.db import DatabaseError
    from django.utils import timezone

    from keystead import housekeeping
    from keystead.housekeeping import schedule

    try:
        row = schedule.last()
    except DatabaseError:
        return Finding(WARN, "housekeeping", "not checked until the database answers and is "
                       "migrated")
    if row is None:
        return Finding(OK, "housekeeping", "never run yet: the first provisioning worker "
                       "runs it, or `keystead housekeeping`")
    described = housekeeping.describe(row)
    if row.failed or row.started_at < timezone.now() - timedelta(days=1):
        return Finding(WARN, "housekeeping", f"last run {described}",
                       "run `keystead housekeeping` and read its error, if any; keep a "
                       "`keystead worker` running or run the command hourly from cron")
    return Finding(OK, "housekeeping", f"last run {described}")


# Operations any console user should know about: they name no setting and no path.
FOR_EVERY_CONSOLE_USER: tuple[Callable[[], Finding], ...] = (
    check_admins, check_mail_outbox, check_backchannel_logouts, check_housekeeping)
# These quote the installation's settings (file paths, host names, the base URL), which
# only superusers, who may change them, are shown.
FOR_SUPERUSERS: tuple[Callable[[], Finding], ...] = (
    check_secret_key, check_base_url, check_debug, check_mail, check_password_screening,
)
