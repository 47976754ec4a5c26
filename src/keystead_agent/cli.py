"""``keystead-agent``: enrol this computer, show its state, find what is wrong, bring the
local password in line, and run the daemon.

Only the standard library's argparse, so the agent needs nothing beyond httpx and
cryptography.
"""

from __future__ import annotations

import argparse
import os
import platform
import pwd
import sys
from datetime import UTC, datetime

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
                               signing.public_pem(key), ca_file=config.ca_file)
    except remote.EnrollFailed as error:
        print(f"keystead-agent: {error}", file=sys.stderr)
        return 1
    config.state.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(config.key_path, signing.private_pem(key))
    config.server = args.server.rstrip("/")
    for name in ("device_id", *cfg.FROM_KEYSTEAD):
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
    from keystead_agent import diagnose as checks

    path = cfg.config_path(args.config)
    problems = checks.run(cfg.load(path), str(path),
                          lambda label, finding: print(f"{label + ':':<15}{finding}"), _when)
    return 1 if problems else 0


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

    path = cfg.config_path(args.config)
    config = cfg.load(path)
    if args.socket:
        config.socket = args.socket
    serve(config, path)
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
