"""The register's consistency rules (cross-field: ``requires``, ``any_of``, ``date_order``) compiled from its
profile into functions over a record's values."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeAlias

from sendemodul.profiles.model import AnyOf, Consistency, Requires
from sendemodul.profiles.rules.fields import digits_only, parse_date
from sendemodul.profiles.rules.report import Severity

__all__ = ["CompiledRule", "compile_rules"]

#: A consistency rule ready to run: id, severity, the field a finding names, and a function from the values (stripped
#: texts by field name) to the message of a violation, or ``None``.
CompiledRule: TypeAlias = tuple[str, Severity, "str | None", "Violation"]
#: The function of a compiled rule: the message of a violation of the values, or ``None``.
Violation: TypeAlias = Callable[[dict[str, str]], "str | None"]


def compile_rules(
    rules: Iterable[Consistency], date_formats: dict[str, str], label: str = ""
) -> tuple[CompiledRule, ...]:
    """The consistency rules as functions; ``label`` prefixes the field names of findings (``Tjeneste/@``)."""
    return tuple((rule.id, Severity[rule.severity], *_compile_one(rule, date_formats, label)) for rule in rules)


def _compile_one(rule: Consistency, date_formats: dict[str, str], label: str) -> tuple[str | None, Violation]:
    if isinstance(rule, Requires):
        if_field, field_name, if_values, positive = rule.if_field, rule.field, frozenset(rule.if_values), rule.positive

        def requires(values: dict[str, str]) -> str | None:
            condition = values.get(if_field, "")
            if condition not in if_values:
                return None
            value = values.get(field_name, "")
            if not value:
                return f"{field_name} must be filled in when {if_field} is {condition}"
            if positive and not (digits_only(value) and int(value) > 0):
                return f"{field_name} must be more than 0 when {if_field} is {condition}"
            return None

        return label + field_name, requires
    if isinstance(rule, AnyOf):
        names = rule.fields
        message = f"at least one of {' and '.join(names)} must be filled in"

        def any_of(values: dict[str, str]) -> str | None:
            return None if any(values.get(name) for name in names) else message

        return None, any_of
    earlier, later = rule.earlier, rule.later
    earlier_format, later_format = date_formats[earlier], date_formats[later]
    message = f"{earlier} is after {later}"

    def date_order(values: dict[str, str]) -> str | None:
        first = parse_date(values.get(earlier, ""), earlier_format)
        second = parse_date(values.get(later, ""), later_format)
        return message if first is not None and second is not None and first > second else None

    return label + later, date_order
