"""The installation's record of its latest housekeeping run: one row, written only by
conditional UPDATEs (``schedule``), so every process agrees on who runs it and when."""

from __future__ import annotations

from django.db import models


class LastRun(models.Model):
    """The latest housekeeping run of the installation, whichever process ran it.

    Its start is claimed with one conditional UPDATE (``schedule.claim_if_due``), so of the
    workers that find the periodic run due at the same moment exactly one runs it. The
    finish, the counts and whether it failed are written by the process that started it,
    and only while the row still names that start, so the row always describes one run.
    """

    #: When the latest run started: the periodic run is due once this is old enough.
    started_at = models.DateTimeField(null=True)
    #: Who started it: a worker's id or the command.
    started_by = models.CharField(max_length=200, blank=True)
    #: When it ended; empty while it runs (or if its process stopped half-way).
    finished_at = models.DateTimeField(null=True)
    #: ``[kind, count]`` pairs in the order the run removed them; only counts, never a
    #: value from the rows.
    removed = models.JSONField(default=list)
    #: It ended with an error (logged by the process that ran it); ``removed`` is empty.
    failed = models.BooleanField(default=False)

    class Meta:
        verbose_name = "last housekeeping run"

    def __str__(self) -> str:
        return f"housekeeping started {self.started_at} by {self.started_by}"
