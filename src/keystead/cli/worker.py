"""``keystead worker``: run provisioning operations from the queue.

Start as many as the targets and the database can take, on any machines that
reach the database: each claims its own batches (PostgreSQL's SKIP LOCKED), an
account's operations still run one at a time and in order. On SQLite run one.
SIGTERM or Ctrl-C stops a worker after the operations in hand (those already sent); it records what
it did and hands the rest of its batch back to the queue.
"""

from __future__ import annotations

import signal

import click

from keystead.cli._common import FiniteFloatRange, InputError, needs_django


@click.command()
@click.option("--batch", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Operations claimed at a time.")
@click.option("--idle", "idle_seconds", type=FiniteFloatRange(0.05, 60), default=1.0,
              show_default=True, help="Seconds to wait when nothing is due.")
@click.option("--once", is_flag=True, help="Stop when nothing is due instead of waiting.")
@click.option("--id", "worker_id", default=None,
              help="A name for this worker in leases and logs (default host:pid:random).")
@needs_django
def worker(batch: int, idle_seconds: float, once: bool, worker_id: str | None) -> None:
    """Run provisioning operations: claim, send to the connected systems, record results.

    Retries and leases are set with KEYSTEAD_PROVISIONING_RETRY_SCHEDULE,
    KEYSTEAD_PROVISIONING_ATTEMPTS and KEYSTEAD_PROVISIONING_LEASE (docs/provisioning.md).
    Workers also run the installation's hourly housekeeping, one of them at a time.
    """
    from keystead.config import ConfigError
    from keystead.provisioning.worker import Worker

    try:
        runner = Worker(worker_id, batch=batch)
    except ConfigError as exc:
        raise InputError(str(exc)) from exc

    def stop(signum: int, frame: object) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"keystead worker {runner.worker_id}: started (batch {batch})", err=True)
    executed = runner.run(idle_seconds=idle_seconds, once=once)
    click.echo(f"keystead worker {runner.worker_id}: stopped after {executed} operations",
               err=True)
