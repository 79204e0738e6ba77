"""Compile route matchers (the rule language's matcher syntax) into predicates over an alert row.

    field: value            equality (numbers compare as numbers, everything else as text)
    field: [a, b]           any of
    field: {regex: "..."}   full match of a Python regular expression
    field: {not: <matcher>} negation
    field: {gt|ge|lt|le: n} numeric comparison (non-numeric values never match)
    field: {exists: bool}   the field is (not) present

Fields: resource, event, component, severity, source, summary, value, status, labels.<name>.
Compiling is pure and reports every problem with its YAML location.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.errors import ConfigError
from opsconductor.model.event import MATCHABLE_FIELDS

Predicate = Callable[[Mapping[str, Any]], bool]
ROUTE_FIELDS = (*MATCHABLE_FIELDS, "status")
_NUMERIC = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}
_OPERATORS = ("regex", "not", "exists", *_NUMERIC)


def field_value(alert: Mapping[str, Any], name: str) -> Any:
    """The value of a route field in an alert row; None when absent."""
    if name.startswith("labels."):
        return (alert.get("labels") or {}).get(name[7:])
    return alert.get(name)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _equals(expected: Any) -> Callable[[Any], bool]:
    want_num = _number(expected)
    want_text = str(expected).lower() if isinstance(expected, bool) else str(expected)

    def test(v: Any) -> bool:
        if v is None:
            return False
        if want_num is not None and not isinstance(expected, str):
            got = _number(v)
            return got is not None and got == want_num
        return str(v) == want_text

    return test


def _value_test(spec: Any, path: DataPath, pos: Positions, errors: list[ConfigError]) -> Callable[[Any], bool]:
    if isinstance(spec, list):
        if not spec:
            errors.append(pos.error(path, "an empty list matches nothing"))
        tests = [_value_test(s, (*path, i), pos, errors) for i, s in enumerate(spec)]
        return lambda v: any(t(v) for t in tests)
    if isinstance(spec, dict):
        if len(spec) != 1:
            errors.append(pos.error(path, f"a matcher operator mapping needs exactly one of {', '.join(_OPERATORS)}"))
            return lambda v: False
        (op, arg), = spec.items()
        sub = (*path, op)
        if op == "regex":
            if not isinstance(arg, str):
                errors.append(pos.error(sub, "regex must be a string"))
                return lambda v: False
            try:
                rx = re.compile(arg)
            except re.error as exc:
                errors.append(pos.error(sub, f"invalid regular expression: {exc}"))
                return lambda v: False
            return lambda v: v is not None and rx.fullmatch(str(v)) is not None
        if op == "not":
            inner = _value_test(arg, sub, pos, errors)
            return lambda v: not inner(v)
        if op == "exists":
            if not isinstance(arg, bool):
                errors.append(pos.error(sub, "exists must be true or false"))
                return lambda v: False
            return (lambda v: v is not None) if arg else (lambda v: v is None)
        if op in _NUMERIC:
            limit = _number(arg)
            if limit is None or isinstance(arg, str):
                errors.append(pos.error(sub, f"{op} needs a number"))
                return lambda v: False
            cmp = _NUMERIC[op]

            def numeric(v: Any) -> bool:
                got = _number(v)
                return got is not None and bool(cmp(got, limit))

            return numeric
        errors.append(pos.error(sub, f"unknown matcher operator {op!r} (expected one of {', '.join(_OPERATORS)})"))
        return lambda v: False
    if spec is None:
        errors.append(pos.error(path, "a matcher value cannot be empty (use {exists: false})"))
        return lambda v: False
    return _equals(spec)


def compile_match(spec: Any, path: DataPath, pos: Positions, errors: list[ConfigError]) -> Predicate:
    """A predicate that is true when every field matcher of ``spec`` matches the alert."""
    if spec is None:
        return lambda alert: True
    if not isinstance(spec, dict):
        errors.append(pos.error(path, "match must be a mapping of field: matcher"))
        return lambda alert: False
    tests: list[tuple[str, Callable[[Any], bool]]] = []
    for name, value in spec.items():
        if not (name in ROUTE_FIELDS or (name.startswith("labels.") and len(name) > 7)):
            errors.append(pos.error((*path, name), f"unknown field {name!r} (expected one of "
                                    f"{', '.join(ROUTE_FIELDS)}, labels.<name>)"))
            continue
        tests.append((name, _value_test(value, (*path, name), pos, errors)))
    return lambda alert: all(t(field_value(alert, n)) for n, t in tests)
