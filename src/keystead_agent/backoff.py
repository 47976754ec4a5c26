"""Slowing down repeated wrong passwords while Keystead cannot be reached.

Offline, the agent's cached verifier answers without Keystead's lockout behind it, so
someone at the keyboard could guess at the speed of scrypt. After a few wrong guesses in
a row for an account, every further attempt is refused, without checking, until a wait
has passed; each further wrong guess doubles the wait, up to a ceiling. A right password
(offline, or Keystead's yes) clears it. Kept in the daemon's memory: the arithmetic is a
plain function, the state a small lock-guarded table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Wrong offline guesses in a row that are free; the next wait is ``FIRST_WAIT`` seconds.
FREE_GUESSES = 3
FIRST_WAIT = 30
MAX_WAIT = 15 * 60


def wait_after(failures: int) -> int:
    """Seconds to refuse attempts after ``failures`` wrong guesses in a row."""
    if failures < FREE_GUESSES:
        return 0
    return min(MAX_WAIT, FIRST_WAIT * 2 ** (failures - FREE_GUESSES))


@dataclass
class Backoff:
    """Per local account: wrong offline guesses in a row, and until when to refuse."""

    failures: dict[str, int] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: Callable[[], float] = time.monotonic

    def remaining(self, user: str) -> int:
        """Seconds the account must still wait (0: it may try now)."""
        with self.lock:
            left = self.until.get(user, 0) - self.clock()
        return max(0, int(left + 0.999)) if left > 0 else 0

    def failed(self, user: str) -> int:
        """Count one wrong guess; the wait it starts (seconds, 0 for a free one)."""
        with self.lock:
            count = self.failures.get(user, 0) + 1
            self.failures[user] = count
            wait = wait_after(count)
            if wait:
                self.until[user] = self.clock() + wait
            return wait

    def clear(self, user: str) -> None:
        with self.lock:
            self.failures.pop(user, None)
            self.until.pop(user, None)
