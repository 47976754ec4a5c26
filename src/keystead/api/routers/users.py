"""/api/v1/users: people in the directory."""

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from keystead.api.auth import ScopedToken, actor
from keystead.api.pagination import Pages
from keystead.api.routers.common import ERRORS, get_or_404
from keystead.api.schemas import (
    FactorsReset,
    PasswordIn,
    RecordId,
    ShortText,
    SignedOut,
    UserCreate,
    UserOut,
    UserPatch,
)
from keystead.directory import services
from keystead.directory.models import Source, User
from keystead.login import factors, lockout, sessions
from keystead.policy.lockout import locked_filter
from keystead.secret import Secret

router = Router(tags=["users"])
read = ScopedToken("users:read")
write = ScopedToken("users:write")


def _users():
    return User.objects.prefetch_related("directory_groups", "roles")


class UserFilter(Schema):
    q: ShortText | None = None
    active: bool | None = None
    source: Source | None = None
    group: RecordId | None = None
    locked: bool | None = Field(
        None, description="true: only accounts locked now; false: only those not locked.")


@router.get("/users", response={200: list[UserOut], **ERRORS}, auth=read)
@paginate(Pages)
def list_users(request: HttpRequest, filters: Query[UserFilter]):
    """Users, filtered by a search over user name, email and names, status, source, group
    or lock."""
    users = _users()
    if filters.q:
        users = users.filter(
            Q(username__icontains=filters.q)
            | Q(email__icontains=filters.q)
            | Q(given_name__icontains=filters.q)
            | Q(family_name__icontains=filters.q)
        )
    if filters.active is not None:
        users = users.filter(is_active=filters.active)
    if filters.source is not None:
        users = users.filter(source=filters.source)
    if filters.group is not None:
        users = users.filter(directory_groups__pk=filters.group)
    if filters.locked is not None:
        locked = locked_filter(timezone.now())
        users = users.filter(locked) if filters.locked else users.exclude(locked)
    return users


@router.post("/users", response={201: UserOut, **ERRORS}, auth=write)
def create_user(request: HttpRequest, payload: UserCreate):
    """Create a user. Given and family name are required; `password` is optional."""
    values = payload.dict(exclude={"password"})
    password = Secret(payload.password.get_secret_value()) if payload.password else None
    user = services.create_user(values, actor=actor(request), password=password,
                                request=request, door="api")
    return Status(201, _users().get(pk=user.pk))


@router.get("/users/{user_id}", response={200: UserOut, **ERRORS}, auth=read)
def get_user(request: HttpRequest, user_id: RecordId):
    return get_or_404(_users(), user_id, "user")


@router.patch("/users/{user_id}", response={200: UserOut, **ERRORS}, auth=write)
def update_user(request: HttpRequest, user_id: RecordId, payload: UserPatch):
    """Change the fields given; omitted fields keep their value."""
    user = get_or_404(User.objects.all(), user_id, "user")
    services.update_user(user, payload.dict(exclude_unset=True), actor=actor(request),
                         request=request, door="api")
    return _users().get(pk=user.pk)


@router.post("/users/{user_id}/password", response={204: None, **ERRORS}, auth=write)
def set_password(request: HttpRequest, user_id: RecordId, payload: PasswordIn):
    """Set the user's password. The password is never returned or recorded."""
    user = get_or_404(User.objects.all(), user_id, "user")
    services.set_password(user, Secret(payload.password.get_secret_value()),
                          actor=actor(request), request=request, door="api")
    return Status(204, None)


@router.post("/users/{user_id}/unlock", response={200: UserOut, **ERRORS}, auth=write)
def unlock_user(request: HttpRequest, user_id: RecordId):
    """End a lockout and reset the count of failed sign-ins. Audited (`user.unlock`, with
    `was_locked`); unlocking an account that is not locked is harmless."""
    user = get_or_404(User.objects.all(), user_id, "user")
    lockout.unlock(user, actor=actor(request), request=request, door="api")
    return _users().get(pk=user.pk)


@router.post("/users/{user_id}/second-factors/reset", response={200: FactorsReset, **ERRORS},
             auth=write)
def reset_second_factors(request: HttpRequest, user_id: RecordId):
    """Remove every second factor the person enrolled and forget their remembered browsers.
    Audited (`user.second_factors.reset`)."""
    user = get_or_404(User.objects.all(), user_id, "user")
    removed = factors.reset_second_factors(user, actor=actor(request), request=request,
                                           door="api")
    return {"removed": removed}


@router.post("/users/{user_id}/sign-out", response={200: SignedOut, **ERRORS}, auth=write)
def sign_out_everywhere(request: HttpRequest, user_id: RecordId):
    """End every session, remembered browser and issued token of the person. Audited
    (`user.sign_out_everywhere`)."""
    user = get_or_404(User.objects.all(), user_id, "user")
    ended = sessions.sign_out_everywhere(user, actor=actor(request), request=request,
                                         door="api")
    return {"sessions_ended": ended}


@router.delete("/users/{user_id}", response={204: None, **ERRORS}, auth=write)
def delete_user(request: HttpRequest, user_id: RecordId):
    user = get_or_404(User.objects.all(), user_id, "user")
    services.delete_user(user, actor=actor(request), request=request, door="api")
    return Status(204, None)
