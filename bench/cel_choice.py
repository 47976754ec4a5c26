"""Which CEL package evaluates Keystead's transformation scripts: a tiny timing.

Each maintained CEL package on PyPI that imports here compiles one typical
mapping script once, then evaluates it over and over with fresh user data;
the script prints evaluations per second for each. Packages that are not
installed are reported as such, so the script runs in any environment:

    pip install cel-expr-python common-expression-language cel-python
    python bench/cel_choice.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Core CEL only (no string extensions, which the three packages spell differently).
EXPRESSION = ('size(user.groups) > 0 && "staff" in user.groups ? '
              'user.given_name + "." + user.family_name + "@" + domain : ""')
DATA = {"user": {"given_name": "Ada", "family_name": "Lovelace", "groups": ["staff"]},
        "domain": "example.org"}
EXPECTED = "Ada.Lovelace@example.org"
SECONDS = 1.0


def _common_expression_language() -> Callable[[], object]:
    import cel

    program = cel.compile(EXPRESSION)
    return lambda: program.execute(DATA)


def _cel_expr_python() -> Callable[[], object]:
    from cel_expr_python import cel

    env = cel.NewEnv(variables={"user": cel.Type.Map(cel.Type.STRING, cel.Type.DYN),
                                "domain": cel.Type.STRING})
    expression = env.compile(EXPRESSION)
    return lambda: expression.eval(data=DATA).value()


def _cel_python() -> Callable[[], object]:
    import celpy

    env = celpy.Environment()
    program = env.program(env.compile(EXPRESSION))
    activation = {"user": celpy.json_to_cel(DATA["user"]),
                  "domain": celpy.json_to_cel(DATA["domain"])}
    return lambda: program.evaluate(activation)


CANDIDATES = {
    "common-expression-language (Rust cel crate)": _common_expression_language,
    "cel-expr-python (the CEL project's C++ runtime)": _cel_expr_python,
    "cel-python (pure Python)": _cel_python,
}


def rate(evaluate: Callable[[], object]) -> float:
    result = str(evaluate())
    if result != EXPECTED:
        raise AssertionError(f"evaluated to {result!r}, expected {EXPECTED!r}")
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < SECONDS:
        for _ in range(100):
            evaluate()
        count += 100
    return count / elapsed


def main() -> None:
    for name, make in CANDIDATES.items():
        try:
            evaluate = make()
        except ImportError as exc:
            print(f"{name}: not installed ({exc.name})")
            continue
        print(f"{name}: {rate(evaluate):,.0f} evaluations/s")


if __name__ == "__main__":
    main()
