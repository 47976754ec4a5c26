"""The audit log in the console: filter, read each event, download what was filtered.

The filter box is a Django ``ListFilter`` (the documented hook), so its values
stay in every link the list makes (pages, sorting, search, the date bar). It
reads the same criteria as ``keystead events`` and ``/api/v1/events``
(``event_filters``); a value it cannot read is named in a message and
matches nothing, never a server error. The downloads take the changelist's own
queryset, so they hold exactly the events the list shows, on every page.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from keystead.directory import event_export
from keystead.directory.admin_guards import ReadOnlyAdmin
from keystead.directory.admin_site import short_time
from keystead.directory.event_filters import (
    FIELDS,
    OUTCOMES,
    EventCriteria,
    EventFilterError,
    parse_criteria,
)
from keystead.directory.models import Event

# The filter box, in the order shown: (query parameter, label, example).
BOX = (
    ("since", "From", "2h, 7d or 2025-05-01"),
    ("until", "Until (not including)", "2025-05-02T08:00"),
    ("person", "Person", "email or user name"),
    ("actor", "Actor", "email, system or anonymous"),
    ("action", "Action", "login, or user.* for all user.…"),
    ("outcome", "Outcome", ""),
    ("client", "Client address", "192.0.2.7 or 10.0.0.0/8"),
)
LABELS = {name: label for name, label, _ in BOX}
# Parameters the list itself uses; a download ignores them or they never reach it.
_NOT_FILTERS = ("p", "e")


def read_criteria(request: HttpRequest) -> EventCriteria:
    """The criteria in the request's query string; EventFilterError names a bad box."""
    return parse_criteria(request.GET, timezone.now())


def problem_text(exc: EventFilterError) -> str:
    return f"{LABELS.get(exc.field, exc.field)}: {exc.message}."


class CriteriaFilter(admin.ListFilter):
    """From, until, person, actor, action, outcome and client address, in one form."""

    title = "events"
    template = "admin/directory/event/criteria_filter.html"

    def __init__(self, request: HttpRequest, params: dict[str, list[str]], model: Any,
                 model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        for name in FIELDS:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]
        self.problem = ""
        self.criteria = EventCriteria()
        try:
            self.criteria = parse_criteria(self.used_parameters, timezone.now())
        except EventFilterError as exc:
            self.problem = problem_text(exc)

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return list(FIELDS)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        if self.problem:
            return queryset.none()  # a filter that cannot be read shows nothing, not everything
        return self.criteria.apply(queryset)

    def choices(self, changelist: Any) -> list[dict[str, Any]]:
        keep = [(k, v) for k, v in changelist.params.items()
                if k not in FIELDS and k not in _NOT_FILTERS]
        boxes = [{"name": name, "label": label, "example": example,
                  "value": self.used_parameters.get(name, "")} for name, label, example in BOX]
        actions = Event.objects.order_by("action").values_list("action", flat=True).distinct()
        return [{
            "boxes": boxes, "outcomes": OUTCOMES, "keep": keep, "problem": self.problem,
            "actions": list(actions[:500]),
            "clear": changelist.get_query_string(remove=list(FIELDS)),
        }]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The audit log, read-only for everyone: events are evidence, never edited."""

    change_list_template = "admin/directory/event/change_list.html"
    # Not "actor": a model field of that name would win over the method and show the
    # (often empty) link to a person instead of the recorded label.
    list_display = ("time", "action", "outcome_badge", "actor_name", "target", "client")
    # What an event is about is one of the criteria (``target_type``); a list of the
    # kinds would show an empty, unnamed link for events about nothing in particular.
    list_filter = (CriteriaFilter,)
    list_select_related = ()  # the list shows the stored labels; joining people adds nothing
    show_facets = admin.ShowFacets.NEVER  # counting every choice over 100k events is slow
    date_hierarchy = "created_at"
    search_fields = ("actor_label", "target_label", "action")
    show_full_result_count = False
    list_per_page = 50
    fields = (
        "created_at", "action", "outcome_badge", "actor_label", "actor", "target_type",
        "target_id", "target_label", "client_ip", "user_agent", "detail_table",
    )
    readonly_fields = fields

    @admin.display(description="time", ordering="created_at")
    def time(self, obj: Event) -> str:
        return short_time(obj.created_at)

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj: Event) -> str:
        words, tone = event_export.outcome_words(obj)
        # ks-failure and ks-denied are red in admin.css; a routine refusal is ks-notice.
        return format_html('<span class="ks-outcome ks-{}">{}</span>',
                           "notice" if tone == "notice" else obj.outcome, words)

    @admin.display(description="actor", ordering="actor_label")
    def actor_name(self, obj: Event) -> str:
        return obj.actor_label

    @admin.display(description="target", ordering="target_label")
    def target(self, obj: Event) -> str:
        return obj.target_label

    @admin.display(description="client IP", ordering="client_ip")
    def client(self, obj: Event) -> str | None:
        return obj.client_ip  # none shows as the console's empty mark, as an empty target does

    @admin.display(description="detail")
    def detail_table(self, obj: Event) -> SafeString:
        """Each detail key on its own row; nested values pretty-printed; the raw JSON below."""
        raw = json.dumps(obj.detail, indent=2, sort_keys=True, ensure_ascii=False)
        as_json = format_html('<details><summary>As JSON</summary><pre class="ks-json">{}'
                              '</pre></details>', raw)
        if not isinstance(obj.detail, dict):
            return format_html('<pre class="ks-json">{}</pre>', raw)
        if not obj.detail:
            return format_html("{}", "—")
        rows = format_html_join(
            "", '<tr><th scope="row">{}</th><td>{}</td></tr>',
            ((key, _detail_value(obj.detail[key])) for key in sorted(obj.detail)))
        return format_html('<table class="ks-detail"><tbody>{}</tbody></table>{}', rows, as_json)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        export = path("export/<str:fmt>/", self.admin_site.admin_view(self.export_view),
                      name="{}_{}_export".format(*info))
        return [export, *super().get_urls()]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return lookup in FIELDS or super().lookup_allowed(lookup, value, request)

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context: dict[str, Any] = dict(extra_context or {})
        try:
            read_criteria(request)
        except EventFilterError as exc:
            messages.error(request, f"This filter cannot be used. {problem_text(exc)}")
        else:
            query = urlencode([(k, v) for k, v in request.GET.items() if k not in _NOT_FILTERS])
            context["export_links"] = [
                (fmt.upper(), reverse("admin:directory_event_export", args=[fmt])
                 + (f"?{query}" if query else ""))
                for fmt in event_export.FORMATS]
        return super().changelist_view(request, context)

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        """The filtered list, every page of it, as a CSV or JSON download."""
        if fmt not in event_export.FORMATS:
            return HttpResponseBadRequest(
                f"Unknown format {fmt!r}; download csv or json.", content_type="text/plain")
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            read_criteria(request)
            changelist = self.get_changelist_instance(request)
        except EventFilterError as exc:
            return HttpResponseBadRequest(f"Nothing was exported. {problem_text(exc)}",
                                          content_type="text/plain; charset=utf-8")
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(
                "Nothing was exported: the list's filter is not valid. Open the audit log, "
                "filter again and download from there.", content_type="text/plain")
        events = changelist.get_queryset(request)
        filters = {k: v for k, v in request.GET.items() if k not in _NOT_FILTERS}
        return event_export.export(request, events, fmt, filters)



def _detail_value(value: Any) -> SafeString:
    if isinstance(value, str):
        return format_html("{}", value) if value else format_html("<em>{}</em>", "empty")
    if isinstance(value, dict | list):
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="ks-json">{}</pre>', text)
    return format_html("{}", json.dumps(value))

