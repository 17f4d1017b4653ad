"""Canonical JSON and the field checks the manifest and the TPF's seal share (docs/container.md, "Conventions")."""

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from sendemodul.errors import ContainerError
from sendemodul.timefmt import parse_utc_text, utc_now_text

_CREATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

#: A field's check: ``(predicate, expectation)``, the expectation being what the error message says it must be.
FieldCheck = tuple[Callable[[Any], bool], str]

#: The deepest nesting of arrays and objects a canonical document may have. The manifest needs 4 (the object, its
#: ``parts``, a part, its ``recipients``) and the TPF's seal 3. Python's json recurses once per level and raises
#: RecursionError (not ValueError) near 1000, so deeper input is refused by :func:`nesting_depth` before it is parsed.
MAX_JSON_DEPTH = 16
#: What the depth scan looks at: a whole string (its brackets do not count; an unterminated one runs to the end, so
#: that no quote is scanned twice) or a bracket.
_DEPTH_TOKEN = re.compile(rb'"(?:[^"\\]+|\\.)*"?|[\[\]{}]', re.DOTALL)


def nesting_depth(data: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """The deepest nesting of ``[`` and ``{`` in the JSON bytes ``data``, strings skipped, found in one linear pass
    that stops as soon as it passes ``limit`` (then ``limit + 1``). Malformed input gets some number; json.loads
    refuses it afterwards."""
    depth = deepest = 0
    for match in _DEPTH_TOKEN.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def canonical_json(obj: object) -> bytes:
    """The canonical encoding: UTF-8, keys sorted, separators ``,`` and ``:``, no escapes beyond JSON's minimum."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def parse_canonical_json(
    data: bytes,
    *,
    name: str,
    expected_format: str,
    not_canonical: type[ContainerError],
    unsupported: type[ContainerError],
    invalid: type[ContainerError],
) -> dict[str, Any]:
    """Decode a canonical JSON object whose ``format`` must be ``expected_format``.

    ``not_canonical`` is raised when ``data`` is not the canonical encoding of a JSON object, ``unsupported`` for
    another format, ``invalid`` for a missing format.
    """
    if nesting_depth(data) > MAX_JSON_DEPTH:
        raise not_canonical.detail(f"{name} is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        obj = json.loads(data.decode("utf-8"))
    except RecursionError:  # not reached after the depth scan; never a 500 if it were
        raise not_canonical.detail(f"{name} is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise not_canonical.detail(f"{name}: {e}") from None
    if not isinstance(obj, dict):
        raise not_canonical.detail(f"{name} is not a JSON object")
    if "format" not in obj:
        raise invalid.detail(f"{name} has no format")
    if obj["format"] != expected_format:
        raise unsupported.detail(f"{name} says {str(obj['format'])[:40]!r}")
    try:
        canonical = canonical_json(obj)
    except ValueError as e:
        raise not_canonical.detail(f"{name}: {e}") from None
    if canonical != data:
        raise not_canonical.detail(f"{name} differs from its canonical form")
    return obj


def check_fields(
    obj: Mapping[str, object], checks: Mapping[str, FieldCheck], *, name: str, error: type[ContainerError]
) -> None:
    """Require exactly the keys of ``checks`` in ``obj``, each passing its check ``(predicate, expectation)``."""
    problems = [
        f"{label} {', '.join(sorted(keys))}"
        for label, keys in (("missing", checks.keys() - obj.keys()), ("unknown", obj.keys() - checks.keys()))
        if keys
    ]
    if problems:
        raise error.detail(f"{name}: {'; '.join(problems)}")
    for key, (predicate, expectation) in checks.items():
        if not predicate(obj[key]):
            raise error.detail(f"{name}: {key} must be {expectation}")


def is_int(value: object, low: int = 0, high: int | None = None) -> bool:
    return type(value) is int and value >= low and (high is None or value <= high)


def is_text(value: object, pattern: re.Pattern[str]) -> TypeGuard[str]:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_timestamp(value: object) -> bool:
    if not is_text(value, _CREATED):
        return False
    try:
        parse_utc_text(value)
    except ValueError:
        return False
    return True


def utc_timestamp() -> str:
    """Now, as the manifest writes it: ``2026-01-05T09:30:00Z``."""
    return utc_now_text()
