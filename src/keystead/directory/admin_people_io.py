"""The console's bulk import of people from CSV, and the export of the user list.

Import is three steps: upload, a preview that lists every row and every problem
by line and column, then "Import", which is offered only for a file without
problems. The file waits between preview and import in the administrator's
session (server-side, in the database), never in the page, so the browser
cannot swap it; the form carries only its SHA-256 digest, to tell one upload
from the next. A file with problems is never stored.

"Import" reads and checks the stored file again (someone may have added one of
these people meanwhile), then creates every person through
``services.create_user`` in ONE transaction: a conflict on any row, even one
that appears between the check and the write, rolls back every row and the
preview shows it. "Cancel" drops the stored file; nothing was written before.

Export streams the list as filtered and searched on the user list, in the
columns the import reads, so an exported file imports unchanged elsewhere.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from keystead.directory import audit, people_csv, services
from keystead.directory.admin_audit import DOOR
from keystead.directory.admin_guards import actor, may
from keystead.directory.authorization import Action
from keystead.directory.models import User
from keystead.directory.people_csv import Problem, Reading, Taken

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

#: Where an uploaded file waits between preview and import.
PENDING = "keystead.people_import"
#: How long a preview stays importable; after that the file must be uploaded again.
PENDING_SECONDS = 3600
_QUERY_CHUNK = 500  # names per IN (...) query: well inside every engine's parameter limit


def urls(model_admin: ModelAdmin) -> list[URLPattern]:
    """The import and export pages, for ``UserAdmin.get_urls`` (before the
    ``<object_id>/`` pattern that would otherwise take them)."""
    site = model_admin.admin_site

    def view(function: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        return site.admin_view(lambda request: function(model_admin, request))

    return [
        path("import/", view(import_upload), name="directory_user_import"),
        path("import/run/", view(import_run), name="directory_user_import_run"),
        path("export/", view(export_people), name="directory_user_export"),
    ]


# -- import -------------------------------------------------------------------


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8, comma or semicolon separated, at most {people_csv.MAX_ROWS:,} people "
                  f"and {people_csv.MAX_BYTES // 1024:,} KiB. The first line names the columns: "
                  "email, given_name, family_name, and optionally username, external_id, "
                  "active.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > people_csv.MAX_BYTES:  # refused before reading it
            raise forms.ValidationError(people_csv.too_large_message(upload.size))
        return upload


_NOTES = {"username": "optional; empty means the email",
          "active": "optional; yes or no, empty means yes"}
#: The upload page's table: column, the other names it is accepted under, what it holds.
_COLUMN_HELP = [
    (column, [f"“{alias}”" for alias in aliases if alias != column],
     "required" if column in people_csv.REQUIRED else _NOTES.get(column, "optional"))
    for column, aliases in people_csv.HEADER_ALIASES.items()
]


def _require_import(model_admin: ModelAdmin, request: HttpRequest) -> None:
    if not (model_admin.has_add_permission(request) and may(request, Action.CREATE, None)):
        raise PermissionDenied("Importing people needs the permission to add users.")


def _changelist(model_admin: ModelAdmin) -> str:
    return reverse(f"{model_admin.admin_site.name}:directory_user_changelist")


def _context(model_admin: ModelAdmin, request: HttpRequest, title: str,
             **extra: Any) -> dict[str, Any]:
    request.current_app = model_admin.admin_site.name
    return {**model_admin.admin_site.each_context(request), "title": title,
            "opts": model_admin.opts, "changelist_url": _changelist(model_admin),
            "upload_url": reverse(f"{model_admin.admin_site.name}:directory_user_import"),
            **extra}


def import_upload(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """GET: the upload form. POST: read the file and show the preview."""
    _require_import(model_admin, request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read()
        return _preview(model_admin, request, data, upload.name or "people.csv")
    if request.method == "GET":
        request.session.pop(PENDING, None)  # starting over: an older preview is void
    return TemplateResponse(request, "admin/directory/user/import_upload.html", _context(
        model_admin, request, "Import people", form=form, columns=_COLUMN_HELP,
        max_rows=f"{people_csv.MAX_ROWS:,}"))


def check(data: bytes) -> Reading:
    """The file's rows and every problem: its own, and conflicts with existing people."""
    reading = people_csv.read(data)
    if not reading.rows:
        return reading
    return reading.adding(people_csv.conflicts(reading, taken_by_others(reading)))


def taken_by_others(reading: Reading) -> Taken:
    """Which of the file's sign-in names and external ids existing people already use,
    in a few queries however long the file (``services.name_conflicts`` re-checks each
    person as it is created)."""
    names = sorted({name for row in reading.rows for name in row.sign_in_names})
    external_ids = sorted({row.external_id for row in reading.rows if row.external_id})
    taken_names: set[str] = set()
    for chunk in _chunks(names):
        found = (User.objects.alias(username_key=Lower("username"))
                 .filter(Q(email__in=chunk) | Q(username_key__in=chunk))
                 .values_list("email", "username"))
        for email, username in found:
            taken_names |= {email.lower(), username.lower()}
    taken_ids: set[str] = set()
    for chunk in _chunks(external_ids):
        taken_ids.update(User.objects.filter(external_id__in=chunk)
                         .values_list("external_id", flat=True))
    return Taken(sign_in_names=frozenset(taken_names), external_ids=frozenset(taken_ids))


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _QUERY_CHUNK):
        yield items[start:start + _QUERY_CHUNK]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _preview(model_admin: ModelAdmin, request: HttpRequest, data: bytes, name: str, *,
             reading: Reading | None = None, at_import: bool = False) -> HttpResponse:
    """The preview of ``data``; only a file without problems is kept for "Import"."""
    reading = reading if reading is not None else check(data)
    digest = _digest(data)
    if reading.ok:
        request.session[PENDING] = {"digest": digest, "name": name, "at": time.time(),
                                    "data": base64.b64encode(data).decode("ascii")}
    else:
        request.session.pop(PENDING, None)
    by_line = reading.problems_by_line()
    rows = [(row, by_line.get(row.line, [])) for row in reading.rows]
    problem_lines = {p.line for p in reading.problems}
    return TemplateResponse(request, "admin/directory/user/import_preview.html", _context(
        model_admin, request, "Import people: preview", reading=reading, rows=rows,
        file_name=name, digest=digest, at_import=at_import,
        problem_count=len(reading.problems),
        problem_line_count=len(problem_lines),
        run_url=reverse(f"{model_admin.admin_site.name}:directory_user_import_run")))


class _RowRefused(Exception):
    """A row the services refused while importing; raised to roll back every row."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def import_run(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """"Import" (create every previewed person, all or none) or "Cancel" (write nothing)."""
    _require_import(model_admin, request)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    pending = request.session.pop(PENDING, None)
    if "_cancel" in request.POST:
        model_admin.message_user(request, "Import cancelled: nobody was added.",
                                 messages.INFO)
        return HttpResponseRedirect(_changelist(model_admin))
    upload_url = reverse(f"{model_admin.admin_site.name}:directory_user_import")
    if (not pending or pending.get("digest") != request.POST.get("digest")
            or time.time() - pending.get("at", 0) > PENDING_SECONDS):
        model_admin.message_user(request, (
            "This preview is no longer valid: it is over an hour old, was already imported "
            "or cancelled, or another file was uploaded since. Nobody was added; upload the "
            "file again."), messages.ERROR)
        return HttpResponseRedirect(upload_url)
    data = base64.b64decode(pending["data"])
    name = pending["name"]
    reading = check(data)  # again: the directory may have changed since the preview
    if not reading.ok:
        return _preview(model_admin, request, data, name, reading=reading, at_import=True)
    try:
        created = _create_all(request, reading, name)
    except _RowRefused as refused:
        return _preview(model_admin, request, data, name, at_import=True,
                        reading=reading.adding(refused.problems))
    noun = "person" if created == 1 else "people"
    model_admin.message_user(request, (
        f"Imported {created} {noun} from {name}. They have no password yet: each sets one "
        "through \"Forgot your password?\" on the sign-in page."), messages.SUCCESS)
    return HttpResponseRedirect(_changelist(model_admin))


def _create_all(request: HttpRequest, reading: Reading, name: str) -> int:
    """Every row through ``services.create_user``, in one transaction; all or none."""
    who = actor(request)
    with transaction.atomic():
        for row in reading.rows:
            try:
                services.create_user(row.values(), actor=who, request=request, door=DOOR)
            except services.RuleViolation as exc:  # Conflict too: rolls back every row
                raise _RowRefused([
                    Problem(row.line, reading.header(p.field), p.message)
                    for p in exc.problems]) from exc
        audit.record("user.import", request=request, detail={
            "door": DOOR, "count": len(reading.rows), "file": name[:200]})
    return len(reading.rows)


# -- export -------------------------------------------------------------------


class _Echo:
    """A file-like object whose ``write`` returns the line, for streaming ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


def export_people(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The user list as CSV, filtered and searched as on the list page, streamed."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        queryset = model_admin.get_changelist_instance(request).queryset
    except IncorrectLookupParameters:
        model_admin.message_user(request, "The list's filter is not valid; export again "
                                          "from the user list.", messages.ERROR)
        return HttpResponseRedirect(_changelist(model_admin))
    count = queryset.count()
    audit.record("user.export", request=request, detail={
        "door": DOOR, "count": count, "filters": dict(request.GET.items())})
    values = queryset.values_list(
        "email", "username", "given_name", "family_name", "external_id", "is_active")
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff"  # so Excel reads the file as UTF-8
        yield writer.writerow(people_csv.COLUMNS)
        for person in values.iterator(chunk_size=1000):
            yield writer.writerow(people_csv.export_cells(*person))

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="people-{stamp}.csv"'
    return response
