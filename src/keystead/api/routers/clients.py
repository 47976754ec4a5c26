"""/api/v1/clients: register OpenID Connect applications (scopes clients:read/clients:write)."""

from dataclasses import replace

from django.http import HttpRequest
from ninja import Router
from ninja.errors import HttpError
from ninja.pagination import paginate
from ninja.responses import Status
from oauth2_provider.models import get_application_model

from keystead.api.auth import ScopedToken, actor
from keystead.api.pagination import Pages
from keystead.api.routers.common import ERRORS
from keystead.api.schemas import ClientCreate, ClientCreated, ClientOut, ClientPatch, ShortText
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.providers.oidc import clients as service

router = Router(tags=["clients"])
read = ScopedToken("clients:read")
write = ScopedToken("clients:write")
Application = get_application_model()


def _apps():
    return Application.objects.select_related("keystead_settings").order_by("name", "pk")


def _get(client_id: str):
    app = _apps().filter(client_id=client_id).first()
    if app is None:
        raise HttpError(404, f"No application with client_id {client_id}.")
    return app


def _settings_values(values: dict) -> dict:
    """Token-settings fields as stored: ``RS256`` and ``public`` are the empty defaults."""
    if values.get("id_token_algorithm") == "RS256":
        values["id_token_algorithm"] = ""
    if values.get("subject_type") == "public":
        values["subject_type"] = ""
    if isinstance(values.get("sector_identifier"), str):
        values["sector_identifier"] = values["sector_identifier"].strip()
    return values


@router.get("/clients", response={200: list[ClientOut], **ERRORS}, auth=read)
@paginate(Pages)
def list_clients(request: HttpRequest):
    return _apps()


@router.post("/clients", response={201: ClientCreated, **ERRORS}, auth=write)
def create_client(request: HttpRequest, payload: ClientCreate):
    """Register an application. A confidential client's secret is in this response only."""
    data = payload.dict()
    settings = _settings_values({f: data[f] for f in service.SETTINGS_FIELDS})
    grant_types = data["grant_types"]
    if grant_types is None:
        grant_types = [data["grant_type"] or "authorization-code"]
    elif data["grant_type"] is not None and data["grant_type"] not in grant_types:
        raise RuleViolation([FieldProblem(
            "grant_type", "must be one of grant_types (or leave it out)", "conflict")])
    try:
        app, secret = service.register_client(
            name=data["name"], client_type=data["client_type"], grant_types=grant_types,
            redirect_uris=data["redirect_uris"],
            post_logout_redirect_uris=data["post_logout_redirect_uris"],
            skip_consent=data["skip_consent"], settings=settings, actor=actor(request),
            request=request, door="api")
    except RuleViolation as violation:
        if data["grant_types"] is None:  # name the field the caller sent
            raise RuleViolation([
                replace(p, field="grant_type") if p.field == "grant_types" else p
                for p in violation.problems]) from None
        raise
    app = _get(app.client_id)
    app.client_secret = secret or None  # transient: rendered into this response, never saved
    return Status(201, app)


@router.get("/clients/{client_id}", response={200: ClientOut, **ERRORS}, auth=read)
def get_client(request: HttpRequest, client_id: ShortText):
    return _get(client_id)


@router.patch("/clients/{client_id}", response={200: ClientOut, **ERRORS}, auth=write)
def update_client(request: HttpRequest, client_id: ShortText, payload: ClientPatch):
    """Change what is given; a field sent as null is left as it is, except the two token
    lifetimes, where null means the site default."""
    app = _get(client_id)
    changes = payload.dict(exclude_unset=True)
    for field in ("name", "redirect_uris", "post_logout_redirect_uris", "grant_types",
                  "skip_consent", "id_token_algorithm", "subject_type", "sector_identifier",
                  "issue_refresh_tokens", "rotate_refresh_tokens"):
        if changes.get(field, ...) is None:
            del changes[field]
    service.change_client(app, changes=_settings_values(changes), actor=actor(request),
                          request=request, door="api")
    return _get(client_id)


@router.delete("/clients/{client_id}", response={204: None, **ERRORS}, auth=write)
def delete_client(request: HttpRequest, client_id: ShortText):
    service.delete_client(_get(client_id), actor=actor(request), request=request, door="api")
    return Status(204, None)
