"""Agent events: kept locally (``diagnose`` shows the last 20) and reported to Keystead's
audit log. An event holds names and outcomes only, never a password.

``events.jsonl`` holds one event a line, each with a sequence number (``seq``), and at
most ``KEEP`` of them: when it is full the oldest are dropped (the file is rewritten
whole: temporary file, then rename), sent or not, so failed sign-ins while Keystead cannot
be reached do not fill the disk. ``events.sent`` holds the sequence number of the last
event Keystead has had. A line that is not an event (cut short by a crash, edited by
hand) is skipped, never in the way of the others."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from keystead_agent import remote
from keystead_agent.config import Config
from keystead_agent.files import read_json, write_json, write_private

log = logging.getLogger("keystead_agent")
_lock = threading.Lock()
#: Held by the one flush that is sending; others do not wait for it.
_sending = threading.Lock()
#: The most events ``events.jsonl`` holds; beyond it the oldest are dropped.
KEEP = 500
#: The most events sent to Keystead at once (what it accepts in one request).
BATCH = 100


def _parse(lines: list[str]) -> list[dict]:
    """The events in ``lines``, oldest first, each with its ``seq``. Lines that are not an
    event are skipped. A line written before events had sequence numbers takes its line
    number, which is what ``events.sent`` counted then."""
    found = []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("event"), str):
            continue
        if type(entry.get("seq")) is not int:
            entry["seq"] = number
        found.append(entry)
    return found


def _plain(entry: dict) -> dict:
    """The event as shown and sent: without its local sequence number."""
    return {key: value for key, value in entry.items() if key != "seq"}


class Events:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.path: Path = config.state / "events.jsonl"
        self.sent_path: Path = config.state / "events.sent"

    def _text(self) -> str:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return ""

    def _sent(self) -> int:
        """The ``seq`` of the last event Keystead has had (0: none). A damaged file counts
        as none: the events are sent again rather than lost."""
        try:
            value = read_json(self.sent_path, {})
        except ValueError:
            value = {}
        if not isinstance(value, dict):
            return 0
        sent = value.get("seq", value.get("count", 0))  # "count": before sequence numbers
        return sent if type(sent) is int else 0

    def add(self, event: str, **detail: str) -> None:
        entry = {"event": event, "at": int(time.time()), **detail}
        log.info("%s %s", event, " ".join(f"{k}={v}" for k, v in detail.items()))
        with _lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            text = self._text()
            lines = text.splitlines()
            kept = _parse(lines)
            sent = self._sent()
            entry["seq"] = max([sent, *(each["seq"] for each in kept[-1:])]) + 1
            if len(lines) < KEEP:
                with self.path.open("a") as out:
                    # A last line cut short by a crash stays on its own line.
                    out.write(("\n" if text and not text.endswith("\n") else "")
                              + json.dumps(entry) + "\n")
                self.path.chmod(0o600)
                return
            keep = kept[-(KEEP - 1):] if KEEP > 1 else []  # and the new one: KEEP
            lost = sum(1 for each in kept[:len(kept) - len(keep)] if each["seq"] > sent)
            write_private(self.path, "".join(json.dumps(each) + "\n"
                                             for each in [*keep, entry]).encode())
        if lost:
            log.warning("%d events not yet sent to Keystead were dropped: %s keeps at most "
                        "%d", lost, self.path, KEEP)

    def last(self, count: int = 20) -> list[dict]:
        return [_plain(entry) for entry in _parse(self._text().splitlines())[-count:]]

    def flush(self, status: dict | None = None) -> bool:
        """Send the events Keystead has not had yet; False if it could not be reached
        (or another flush is sending: it takes these too, or the next one does).

        The file lock is held only to read what is pending and to record what was sent,
        never during the HTTP call: a slow Keystead must not hold up sign-ins, which add
        events. ``_sending`` is only tried, never waited for, so two flushes never send
        the same events and nobody queues behind the network. What was sent is recorded
        by sequence number, so events added (or the oldest dropped) meanwhile do not
        matter."""
        if not self.config.enrolled or not _sending.acquire(blocking=False):
            return False
        try:
            with _lock:
                text, sent = self._text(), self._sent()
            pending = [each for each in _parse(text.splitlines())
                       if each["seq"] > sent][:BATCH]
            if not pending and status is None:
                return True
            try:
                answer = remote.signed(self.config, "POST", "/devices/events",
                                       {"events": [_plain(each) for each in pending],
                                        "status": status or {}})
            except Exception as error:  # any transport failure: keep them for next time
                log.warning("events not sent: %s", type(error).__name__)
                return False
            if answer.status_code != 200:
                log.warning("events refused by Keystead (%s): %s", answer.status_code,
                            answer.text[:200])
                return False
            if pending:
                with _lock:
                    write_json(self.sent_path,
                               {"seq": max(self._sent(), pending[-1]["seq"])})
            return True
        finally:
            _sending.release()
