"""The queue's tunables, read from ``KEYSTEAD_PROVISIONING_*`` environment variables.

Read when asked (not at import), so a test or a worker started with other
values sees them, and each rule is a plain function of plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from keystead import config
from keystead.timespec import TimespecError, parse_duration

DEFAULT_RETRY_SCHEDULE = "30s,2m,10m,1h"
DEFAULT_ATTEMPTS = 5
DEFAULT_LEASE = "60s"
DEFAULT_ARCHIVE_DAYS = 30


@dataclass(frozen=True)
class QueueSettings:
    #: The wait before each retry: the first after the first failure, and so on; the last
    #: entry repeats when there are more attempts than entries.
    retry_schedule: tuple[timedelta, ...]
    #: Attempts in all, the first included; after the last failure the state is exception.
    max_attempts: int
    #: How long a claim holds without renewal; a worker renews at a third of it.
    lease: timedelta

    def delay_after(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (1-based)."""
        return self.retry_schedule[min(max(attempts, 1), len(self.retry_schedule)) - 1]


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise config.ConfigError("KEYSTEAD_PROVISIONING_RETRY_SCHEDULE is empty; give waits "
                                 f"such as {DEFAULT_RETRY_SCHEDULE}.")
    try:
        return tuple(parse_duration(part) for part in parts)
    except TimespecError as exc:
        raise config.ConfigError(f"KEYSTEAD_PROVISIONING_RETRY_SCHEDULE: {exc}") from None


def load() -> QueueSettings:
    attempts = config.env_int("KEYSTEAD_PROVISIONING_ATTEMPTS", DEFAULT_ATTEMPTS)
    if attempts < 1:
        raise config.ConfigError("KEYSTEAD_PROVISIONING_ATTEMPTS must be 1 or more.")
    try:
        lease = parse_duration(config.env("KEYSTEAD_PROVISIONING_LEASE", DEFAULT_LEASE))
    except TimespecError as exc:
        raise config.ConfigError(f"KEYSTEAD_PROVISIONING_LEASE: {exc}") from None
    if lease < timedelta(seconds=3):
        raise config.ConfigError("KEYSTEAD_PROVISIONING_LEASE must be 3s or more.")
    return QueueSettings(
        retry_schedule=parse_schedule(config.env("KEYSTEAD_PROVISIONING_RETRY_SCHEDULE",
                                                 DEFAULT_RETRY_SCHEDULE)),
        max_attempts=attempts, lease=lease)


def archive_days() -> int:
    """Days an ended operation stays in the archive before housekeeping removes it; 0 keeps
    them forever, as for the other retention settings."""
    return config.env_int("KEYSTEAD_PROVISIONING_ARCHIVE_DAYS", DEFAULT_ARCHIVE_DAYS,
                          minimum=0, hint="; give a number of days, or 0 to keep them forever")
