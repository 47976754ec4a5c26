"""/api/v1/tokens: list, create and revoke admin API tokens (needs the `admin` scope)."""

from django.http import HttpRequest
from ninja import Router
from ninja.errors import HttpError
from ninja.pagination import paginate
from ninja.responses import Status

from keystead.api import tokens as token_service
from keystead.api.auth import ScopedToken, actor
from keystead.api.models import ApiToken
from keystead.api.pagination import Pages
from keystead.api.routers.common import ERRORS
from keystead.api.schemas import ShortText, TokenCreate, TokenCreated, TokenOut

router = Router(tags=["tokens"])
admin = ScopedToken("admin")


@router.get("/tokens", response={200: list[TokenOut], **ERRORS}, auth=admin)
@paginate(Pages)
def list_tokens(request: HttpRequest):
    return ApiToken.objects.select_related("owner").order_by("-created_at", "-pk")


@router.post("/tokens", response={201: TokenCreated, **ERRORS}, auth=admin)
def create_token(request: HttpRequest, payload: TokenCreate):
    """Create a token owned by the caller's owner. The token is in this response only."""
    owner = request.auth.owner
    token, clear = token_service.issue_token(
        name=payload.name, scopes=payload.scopes, owner=owner, days=payload.days,
        actor=actor(request), request=request, door="api",
    )
    token.token = clear.reveal()  # transient: rendered into this response, never saved
    return Status(201, token)


@router.delete("/tokens/{key_id}", response={204: None, **ERRORS}, auth=admin)
def revoke_token(request: HttpRequest, key_id: ShortText):
    token = ApiToken.objects.filter(key_id=key_id).first()
    if token is None:
        raise HttpError(404, f"No token with id {key_id}.")
    token_service.revoke_token(token, actor=actor(request), request=request, door="api")
    return Status(204, None)
