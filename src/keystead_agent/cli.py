"""``keystead-agent``: enrol this computer, show its state, find what is wrong, bring the
local password in line, and run the daemon.

Only the standard library's argparse, so the agent needs nothing beyond httpx and
cryptography.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import platform
import pwd
import socket
import ssl
import sys
import time
from datetime import UTC, datetime

import httpx

from keystead_agent import config as cfg
from keystead_agent import protocol as p
from keystead_agent import remote, signing
from keystead_agent.files import write_private


def _when(stamp: int | None) -> str:
    if not stamp:
        return "never"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def enroll(args: argparse.Namespace) -> int:
    path = cfg.config_path(args.config)
    config = cfg.load(path)
    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    key = signing.new_private_key()
    try:
        answer = remote.enroll(args.server, token, args.name or platform.node(),
                               signing.public_pem(key))
    except remote.EnrollFailed as error:
        print(f"keystead-agent: {error}", file=sys.stderr)
        return 1
    config.state.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(config.key_path, signing.private_pem(key))
    config.server = args.server.rstrip("/")
    for name in ("device_id", "client_id", "token_url", "reset_url", "mode", "check_seconds",
                 "login_name", "email_domain"):
        setattr(config, name, answer[name])
    cfg.save(config, path)
    print(f"Enrolled as computer {answer['device_id']} (mode {config.mode}); "
          f"configuration in {path}.")
    return 0


def status(args: argparse.Namespace) -> int:
    from keystead_agent.vault import Vault

    config = cfg.load(cfg.config_path(args.config))
    if not config.enrolled:
        print("Not enrolled: run keystead-agent enroll --server URL --token TOKEN")
        return 1
    state = Vault(config.state).state_of()
    print(f"server:      {config.server}\ndevice:      {config.device_id}\n"
          f"mode:        {config.mode}\ncheck every: {config.check_seconds}s\n"
          f"last check:  {_when(state.get('last_check'))}\n"
          f"last sync:   {_when(state.get('last_sync'))}")
    return 0


def diagnose(args: argparse.Namespace) -> int:
    from keystead_agent.events import Events

    config = cfg.load(cfg.config_path(args.config))
    problems = 0
    print(f"configuration: {cfg.config_path(args.config)} "
          f"({'enrolled' if config.enrolled else 'NOT enrolled'})")
    try:
        answer = httpx.get(f"{config.server}/healthz", timeout=config.timeout)
        print(f"reachable:     yes ({config.server} answered {answer.status_code})")
        if config.server.startswith("https://"):
            print("TLS:           certificate verified")
        served = answer.headers.get("date")
        if served:
            skew = time.time() - email.utils.parsedate_to_datetime(served).timestamp()
            state = "ok" if abs(skew) <= signing.MAX_SKEW else "TOO LARGE: fix the clock"
            print(f"clock skew:    {skew:+.0f}s ({state})")
        if config.enrolled:
            signed = remote.signed(config, "GET", "/devices/config")
            said = signed.json().get("error_description", "") if signed.status_code else ""
            print(f"device key:    {'accepted' if signed.status_code == 200 else said}")
            problems += signed.status_code != 200
    except ssl.SSLError as error:
        print(f"TLS:           FAILED: {error}")
        problems += 1
    except httpx.HTTPError as error:
        print(f"reachable:     NO ({type(error).__name__}: {error})")
        problems += 1
    answering = _answers(config.socket)
    print(f"socket:        {config.socket} "
          f"({'the daemon answers' if answering else 'MISSING: is the daemon running?'})")
    problems += not answering
    print("last events:")
    for event in Events(config).last(20):
        detail = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "at"))
        print(f"  {_when(event['at'])} {event['event']} {detail}")
    return 1 if problems else 0


def _answers(path: str) -> bool:
    """Whether the daemon listens on ``path`` (a connection is accepted)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def _who(args: argparse.Namespace) -> str:
    return args.user or os.environ.get("SUDO_USER") or pwd.getpwuid(os.getuid()).pw_name


def sync(args: argparse.Namespace) -> int:
    from keystead_agent.client import converse

    config = cfg.load(cfg.config_path(args.config))
    outcome = converse(config.socket, _who(args), service="keystead-agent-sync")
    print({p.ALLOWED: "The local password matches your Keystead password.",
           p.DENIED: "Nothing was changed.",
           p.IGNORE: "Keystead could not be asked; nothing was changed."}[outcome])
    return 0 if outcome == p.ALLOWED else 1


def reset_password(args: argparse.Namespace) -> int:
    from keystead_agent.vault import Vault

    config = cfg.load(cfg.config_path(args.config))
    user = _who(args)
    if not Vault(config.state).known(user):
        print(f"{user} has not signed in with Keystead on this computer: change the password "
              "locally (passwd).", file=sys.stderr)
        return 1
    print(f"Reset your Keystead password at: {config.reset_url}")
    return 0


def daemon(args: argparse.Namespace) -> int:
    from keystead_agent.daemon import serve

    config = cfg.load(cfg.config_path(args.config))
    if args.socket:
        config.socket = args.socket
    serve(config)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="keystead-agent", description=(
        "Keeps this computer's local account passwords in step with Keystead."))
    top.add_argument("--config", help=f"configuration file (default {cfg.DEFAULT_CONFIG}, "
                                      "or KEYSTEAD_AGENT_CONFIG)")
    commands = top.add_subparsers(dest="command", required=True)
    one = commands.add_parser("enroll", help="register this computer with Keystead")
    one.add_argument("--server", required=True, help="Keystead's address, https://...")
    one.add_argument("--token", required=True, help="the enrolment token; - reads it from "
                                                    "standard input")
    one.add_argument("--name", help="the computer's name (default: its host name)")
    one.set_defaults(run=enroll)
    commands.add_parser("status", help="mode, server, last check and sync").set_defaults(
        run=status)
    commands.add_parser("diagnose", help="reachability, TLS, clock, last events").set_defaults(
        run=diagnose)
    for name, run, words in (("sync", sync, "bring the local password in line with Keystead"),
                             ("reset-password", reset_password, "show the reset address")):
        one = commands.add_parser(name, help=words)
        one.add_argument("--user", help="the local account (default: yours)")
        one.set_defaults(run=run)
    one = commands.add_parser("daemon", help="run the agent daemon (as root)")
    one.add_argument("--socket", help="listen here instead of the configured socket")
    one.set_defaults(run=daemon)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
