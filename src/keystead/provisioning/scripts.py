"""Transformation scripts: CEL expressions that compute a system attribute's value.

CEL (the Common Expression Language) is not Turing-complete and has no side
effects; the package is ``cel-expr-python``, the CEL project's own runtime
(chosen by ``bench/cel_choice.py``; docs/provisioning.md has the figures). A
script sees:

``value``  the mapped Keystead attribute's value (or null); in a *password*
           script, the password as an opaque secret, or null when none was
           generated
``user``   plain data about the person: ``username``, ``email``,
           ``given_name``, ``family_name``, ``full_name``, ``groups``,
           ``roles``, ``is_active``

and, besides CEL's own functions and the string extension (``lowerAscii()``,
``split()``, ``replace()``, …), these helpers, each taking a secret and
returning a new one: ``ssha(s)`` (``{SSHA}…``), ``argon2(s)`` (``{ARGON2}…``),
``sha512_crypt(s)`` (``{CRYPT}$6$…``), ``ad_password(s)`` (AD's
``unicodePwd``: the password in double quotes, UTF-16LE).

**Secrets stay opaque.** A password never enters CEL: the script holds a handle
that only the helpers resolve, so no script can copy a password into an
ordinary attribute or an error message. A password script must return a
secret or null; anything else is an error.

**Bounded.** A script is at most ``MAX_SCRIPT`` characters; the runtime stops a
script whose comprehensions exceed its iteration budget, so evaluation time is
bounded by the script's size; the user data is small.

**Errors** raise ``ScriptError`` with the runtime's message: it names the
script's fault, never the data it was given. Scripts are never logged.
"""

from __future__ import annotations

import contextvars
import secrets
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_strings

from keystead.provisioning.connectors.ldap import argon2 as _argon2
from keystead.provisioning.connectors.ldap import ssha as _ssha
from keystead.provisioning.secrets import EncodedSecret
from keystead.provisioning.unix_crypt import sha512_crypt
from keystead.secret import Secret

MAX_SCRIPT = 4000
_HANDLE_PREFIX = "keystead-secret:"


class ScriptError(ValueError):
    """A script failed or returned what it must not; the message is safe to show."""


class _Handles:
    """The secrets one evaluation may use, behind unguessable handles."""

    def __init__(self) -> None:
        self.values: dict[str, Secret] = {}

    def add(self, value: Secret) -> str:
        handle = _HANDLE_PREFIX + secrets.token_hex(16)
        self.values[handle] = value
        return handle

    def get(self, handle: Any, helper: str) -> Secret:
        if not isinstance(handle, str) or handle not in self.values:
            raise ScriptError(f"{helper}() takes a secret (value, or another helper's result)")
        return self.values[handle]


_current: contextvars.ContextVar[_Handles] = contextvars.ContextVar("script_handles")


_HELPERS: dict[str, Callable[[Secret], Secret]] = {
    "ssha": lambda s: Secret(_ssha(s).decode("ascii")),
    "argon2": lambda s: Secret(_argon2(s).decode("ascii")),
    "sha512_crypt": lambda s: Secret("{CRYPT}" + sha512_crypt(s)),
    "ad_password": lambda s: EncodedSecret(f'"{s.reveal()}"', "utf-16-le"),
}


def _helper(name: str, transform: Callable[[Secret], Secret]) -> cel.FunctionDecl:
    def impl(handle: Any) -> str:
        handles = _current.get()
        return handles.add(transform(handles.get(handle, name)))

    return cel.FunctionDecl(name, [cel.Overload(f"keystead_{name}", cel.Type.DYN,
                                                [cel.Type.STRING], impl=impl)])


_ENV_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _env() -> cel.Env:
    return cel.NewEnv(
        variables={"value": cel.Type.DYN,
                   "user": cel.Type.Map(cel.Type.STRING, cel.Type.DYN)},
        extensions=[ext_strings.ExtStrings()],
        functions=[_helper(name, transform) for name, transform in _HELPERS.items()])


def _words(exc: Exception) -> str:
    """The runtime's message without its status decoration."""
    text = str(exc).strip()
    for tag in (" [INVALID_ARGUMENT]", " [INTERNAL]", " [UNIMPLEMENTED]", " [UNKNOWN]"):
        text = text.removesuffix(tag)
    for tag in ("INVALID_ARGUMENT: ", "INTERNAL: ", "UNKNOWN: "):
        text = text.removeprefix(tag)
    return text


@lru_cache(maxsize=512)
def compile_script(source: str) -> cel.Expression:
    """Compile (cached by text); raises ScriptError naming the syntax or type fault."""
    if len(source) > MAX_SCRIPT:
        raise ScriptError(f"the script is longer than {MAX_SCRIPT} characters; shorten it")
    if not source.strip():
        raise ScriptError("the script is empty")
    with _ENV_LOCK:
        env = _env()
    try:
        return env.compile(source)
    except RuntimeError as exc:
        raise ScriptError(f"the script does not compile: {_words(exc)}") from None


def check(source: str) -> None:
    """Raise ScriptError if ``source`` does not compile (for forms saving a script)."""
    compile_script(source)


def _run(source: str, value: Any, user: Mapping[str, Any], handles: _Handles) -> Any:
    expression = compile_script(source)
    token = _current.set(handles)
    try:
        result = expression.eval(data={"value": value, "user": dict(user)})
        plain = result.plain_value()
    except ScriptError:
        raise
    except Exception as exc:  # the runtime's own errors: RuntimeError, TypeError
        raise ScriptError(f"the script failed: {_words(exc)}") from None
    finally:
        _current.reset(token)
    if result.type().name().lower() == "error":
        raise ScriptError(f"the script failed: {_words(Exception(plain))}")
    return plain


def evaluate(source: str, *, value: Any, user: Mapping[str, Any]) -> Any:
    """An ordinary attribute's value: any plain CEL result (string, number, list, …)."""
    handles = _Handles()
    result = _run(source, value, user, handles)
    if isinstance(result, str) and result in handles.values:
        raise ScriptError("the script returned a secret for an attribute that is not a "
                          "password attribute; flag it as one, or return plain data")
    return result


def evaluate_password(source: str, *, password: Secret | None,
                      user: Mapping[str, Any]) -> Secret | None:
    """A password attribute's value: the script must return a secret or null."""
    handles = _Handles()
    value = handles.add(password) if password is not None else None
    result = _run(source, value, user, handles)
    if result is None:
        return None
    if isinstance(result, str) and result in handles.values:
        return handles.values[result]
    kind = type(result).__name__.replace("str", "string").replace("NoneType", "null")
    raise ScriptError(f"a password script must return a secret (value, or a helper's result "
                      f"such as ssha(value)) or null; this one returned a {kind}")
