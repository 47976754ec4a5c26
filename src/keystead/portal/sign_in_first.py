"""Password sign-ins (``POST /login/``) taken ahead of Django's middleware chain.

A password sign-in is argon2 (about 20 ms of CPU, on purpose) and everything
else; that everything else is what ``bench/login.py`` measures. On a cache that
argon2 has just emptied, Django's way to the view (one nested call per
middleware, each wrapped to turn exceptions into responses, the URL resolver,
the class-based form view and its form) cost 0.8 to 1.0 ms of the 2.0 to 2.3 ms
measured in process (docs/performance.md). This
middleware sits right after ``TokenEndpointFirst`` and answers ``POST /login/``
itself: it runs the same hooks of the same middleware (the entries of
``MIDDLEWARE`` below it, as Django builds them) in the same order and with the
same rules — a hook's response stops the requests hooks and only the
middleware entered so far see it on the way out; an exception becomes its
error response where Django's handler would turn it into one — then calls
``views.sign_in_post`` rather than resolving the URL. Every other request goes
on through the whole chain.

Middleware below this one must be hook-based (``MiddlewareMixin``); one that is
not fails at startup, so one added later cannot be skipped silently for sign-ins.
WhiteNoise is the exception: it only ever answers paths under ``STATIC_URL``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

# Middleware that never answers ``/login/`` and has no hooks to run for it.
NOT_FOR_SIGN_IN = {"whitenoise.middleware.WhiteNoiseMiddleware"}


def _not_called(request: HttpRequest) -> HttpResponse:
    raise AssertionError("SignInFirst runs the hooks of the middleware below it, never its chain")


def middleware_below(entry: str) -> list[MiddlewareMixin]:
    """Instances of the ``MIDDLEWARE`` entries after ``entry`` that take part in a sign-in."""
    found = []
    for name in settings.MIDDLEWARE[settings.MIDDLEWARE.index(entry) + 1:]:
        if name in NOT_FOR_SIGN_IN:
            continue
        middleware = import_string(name)(_not_called)
        if not isinstance(middleware, MiddlewareMixin):
            raise ImproperlyConfigured(
                f"{name} comes after {entry} in MIDDLEWARE but has no process_request/"
                f"process_response hooks for it to run on sign-ins: put it above {entry}")
        found.append(middleware)
    return found


class SignInFirst:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from keystead.portal.views import sign_in_post

        self.get_response = get_response
        self.view = sign_in_post
        below = middleware_below(f"{__name__}.{type(self).__name__}")
        # Each middleware's hooks, looked up once: (process_request, process_response).
        self.hooks = [(getattr(m, "process_request", None), getattr(m, "process_response", None))
                      for m in below]
        self.view_hooks = [m.process_view for m in below if hasattr(m, "process_view")]
        self.exception_hooks = [m.process_exception for m in reversed(below)
                                if hasattr(m, "process_exception")]
        self.path: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.path is None:
            self.path = reverse("login")
        if request.method != "POST" or request.path_info != self.path:
            return self.get_response(request)
        return self.sign_in(request)

    def sign_in(self, request: HttpRequest) -> HttpResponse:
        """What Django's handler does with the middleware below, for the sign-in view.

        An exception becomes its error response (``response_for_exception``) where
        Django's handler wraps each middleware to do the same."""
        entered = 0
        response = None
        try:
            for before, _ in self.hooks:
                response = before(request) if before is not None else None
                entered += 1
                if response is not None:
                    break
        except Exception as exc:
            response = response_for_exception(request, exc)
        if response is None:
            try:
                response = self._view(request)
            except Exception as exc:
                response = response_for_exception(request, exc)
        for _, after in reversed(self.hooks[:entered]):
            if after is not None:
                try:
                    response = after(request, response)
                except Exception as exc:
                    response = response_for_exception(request, exc)
        return response

    def _view(self, request: HttpRequest) -> HttpResponse:
        for hook in self.view_hooks:
            response = hook(request, self.view, (), {})
            if response is not None:
                return response
        try:
            response = self.view(request)
        except Exception as exc:
            response = next((answer for hook in self.exception_hooks
                             if (answer := hook(request, exc)) is not None), None)
            if response is None:
                raise
        if hasattr(response, "render") and callable(response.render):
            response = response.render()
        return response
