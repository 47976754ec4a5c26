"""Agent events: kept locally (``diagnose`` shows the last 20) and reported to Keystead's
audit log. An event holds names and outcomes only, never a password."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from keystead_agent import remote
from keystead_agent.config import Config
from keystead_agent.files import read_json, write_json

log = logging.getLogger("keystead_agent")
_lock = threading.Lock()
#: Held by the one flush that is sending; others do not wait for it.
_sending = threading.Lock()
KEEP = 500


class Events:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.path: Path = config.state / "events.jsonl"
        self.sent_path: Path = config.state / "events.sent"

    def add(self, event: str, **detail: str) -> None:
        entry = {"event": event, "at": int(time.time()), **detail}
        log.info("%s %s", event, " ".join(f"{k}={v}" for k, v in detail.items()))
        with _lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self.path.open("a") as out:
                out.write(json.dumps(entry) + "\n")
            self.path.chmod(0o600)

    def last(self, count: int = 20) -> list[dict]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines[-count:]]

    def flush(self, status: dict | None = None) -> bool:
        """Send the events Keystead has not had yet; False if it could not be reached
        (or another flush is sending: it takes these too, or the next one does).

        The file lock is held only to read what is pending and to record what was sent,
        never during the HTTP call: a slow Keystead must not hold up sign-ins, which add
        events. ``_sending`` is only tried, never waited for, so two flushes never send
        the same events and nobody queues behind the network."""
        if not self.config.enrolled or not _sending.acquire(blocking=False):
            return False
        try:
            with _lock:
                try:
                    lines = self.path.read_text().splitlines()
                except FileNotFoundError:
                    lines = []
                sent = read_json(self.sent_path, {"count": 0})["count"]
            pending = [json.loads(line) for line in lines[sent:]][:100]
            if not pending and status is None:
                return True
            try:
                answer = remote.signed(self.config, "POST", "/devices/events",
                                       {"events": pending, "status": status or {}})
            except Exception as error:  # any transport failure: keep them for next time
                log.warning("events not sent: %s", type(error).__name__)
                return False
            if answer.status_code != 200:
                log.warning("events refused by Keystead (%s): %s", answer.status_code,
                            answer.text[:200])
                return False
            with _lock:
                write_json(self.sent_path, {"count": sent + len(pending)})
            return True
        finally:
            _sending.release()
