"""The page that offers a person the second factors they can use."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from keystead.login import factors, second_step, throttle
from keystead.login.second_step import PendingSignIn
from keystead.portal.views import throttled_page

StepView = Callable[..., HttpResponse]


def during_second_step(view: StepView) -> Callable[..., HttpResponse]:
    """Give a factor's page the pending sign-in, or send the browser back to sign in.

    Every second-step page needs a person who passed the password step within
    the last minutes; this is the one place that checks it.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        state = second_step.pending(request)
        if state is None:
            messages.info(request, "Sign in first.")
            return redirect("login")
        if request.method == "POST":
            throttled = throttle.check(request, door="second factor")
            if throttled is not None:
                return throttled_page(request, throttled)
        return view(request, state, *args, **kwargs)

    return wrapper


@during_second_step
def choose(request: HttpRequest, state: PendingSignIn) -> HttpResponse:
    methods = factors.methods_for(state.user)
    if len(methods) == 1:
        return redirect(methods[0].url_name)
    return render(request, "portal/second_step_choose.html", {"methods": methods})
