"""The root daemon: listens on the Unix socket and runs one conversation per connection.

All the work (Keystead, stored state, local password changes) happens here; the PAM
module only carries messages. A caller that is not root may only converse about its own
account (SO_PEERCRED), so a screen locker can use the socket but no user can try
passwords of another.
"""

from __future__ import annotations

import logging
import os
import pwd
import signal
import socket
import socketserver
import struct
import threading
from pathlib import Path

from keystead_agent import checks
from keystead_agent import protocol as p
from keystead_agent.config import Config
from keystead_agent.events import Events
from keystead_agent.signin import Agent, Conversation
from keystead_agent.vault import Vault

log = logging.getLogger("keystead_agent")
#: Seconds a client may take to answer one prompt (a person typing).
ANSWER_SECONDS = 300


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class _Handler(socketserver.StreamRequestHandler):
    server: AgentServer

    def handle(self) -> None:
        self.request.settimeout(ANSWER_SECONDS)
        try:
            begin = p.decode(self.rfile.readline(p.MAX_LINE))
        except (ValueError, OSError):
            return
        user, service = str(begin.get("user", "")), str(begin.get("service", ""))[:60]
        if begin["type"] != p.BEGIN or not user:
            self._send(p.DENIED)
            return
        uid = _peer_uid(self.request)
        # Not root: only the caller's own account, whatever name it is typed as.
        only = None if uid == 0 else (_name_of(uid) or "")
        conv = Conversation(say=self._send, ask=self._ask)
        try:
            outcome = self.server.agent.sign_in(conv, user, service, only=only)
        except (OSError, ValueError) as error:
            log.error("conversation about %s failed: %s", user, type(error).__name__)
            return
        except Exception:
            log.exception("conversation about %s failed", user)
            outcome = p.IGNORE
        self._send(outcome)
        self.server.agent.events.flush()

    def _send(self, kind: str, text: str = "") -> None:
        self.wfile.write(p.encode(kind, text))
        self.wfile.flush()

    def _ask(self, kind: str, prompt: str) -> str | None:
        self._send(kind, prompt)
        answer = p.decode(self.rfile.readline(p.MAX_LINE))
        if answer.get("type") != p.ANSWER or not isinstance(answer.get("value"), str):
            return None
        return answer["value"]


def _name_of(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


class AgentServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, config: Config, config_path: Path | None = None) -> None:
        self.agent = Agent(config, Vault(config.state), Events(config),
                           config_path=config_path)
        path = Path(config.socket)
        if not path.parent.exists():
            path.parent.mkdir(parents=True)
            path.parent.chmod(0o755)  # reachable by everyone; the socket's peer check guards
        path.unlink(missing_ok=True)
        super().__init__(str(path), _Handler)
        # PAM runs in many processes; SO_PEERCRED limits what a non-root caller may ask.
        os.chmod(path, 0o666)  # noqa: S103


def setup_logging(config: Config) -> None:
    """The agent's log: actions and outcomes, never a password."""
    Path(config.log_file).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(config.log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("keystead_agent")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    os.chmod(config.log_file, 0o600)


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (systemctl stop): leave serve_forever, so the socket is removed."""
    raise SystemExit(0)


def serve(config: Config, config_path: Path | None = None,
          ready: threading.Event | None = None) -> None:
    os.umask(0o077)
    setup_logging(config)
    config.state.mkdir(parents=True, exist_ok=True, mode=0o700)
    with AgentServer(config, config_path) as server:
        log.info("listening on %s (mode %s, server %s)", config.socket, config.mode,
                 config.server)
        stop = threading.Event()
        threading.Thread(target=checks.run_forever, args=(server.agent, stop), daemon=True,
                         name="checks").start()
        if ready is not None:
            ready.set()
        signal.signal(signal.SIGTERM, _stop)
        try:
            server.serve_forever()
        finally:
            stop.set()
            Path(config.socket).unlink(missing_ok=True)
            log.info("stopped")
