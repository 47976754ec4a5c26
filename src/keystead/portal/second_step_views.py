"""The page that offers a person the second factors they can use."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from keystead.login import factors, second_step


def choose(request: HttpRequest) -> HttpResponse:
    state = second_step.pending(request)
    if state is None:
        messages.info(request, "Sign in first.")
        return redirect("login")
    methods = factors.methods_for(state.user)
    if len(methods) == 1:
        return redirect(methods[0].url_name)
    return render(request, "portal/second_step_choose.html", {"methods": methods})
