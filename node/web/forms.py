"""Turning submitted forms into the services' input models, and failures into plain words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from flask_babel import gettext, lazy_gettext
from pydantic import BaseModel, ValidationError

from node.errors import Problem

M = TypeVar("M", bound=BaseModel)

# Plain words for the reasons the services give, so that members read them in their language.
REASONS: dict[str, Any] = {
    "already taken": lazy_gettext("Someone already uses this name. Choose another."),
    "already registered": lazy_gettext("This email address already has an account here."),
    "wrong": lazy_gettext("This is not right. Check it and try again."),
    "required on this node": lazy_gettext("You need an invitation link to join this node."),
    "unknown invitation": lazy_gettext("This invitation link is not known here."),
    "this invitation was already used": lazy_gettext("This invitation link was already used."),
    "this invitation has expired": lazy_gettext("This invitation link has expired."),
    "not a valid H3 cell": lazy_gettext("This is not a place we know. Leave it as it was."),
    "must be in the future": lazy_gettext("Choose a time in the future."),
    "must be after available_from": lazy_gettext("The end must come after the start."),
    "the need and offer are both yours": lazy_gettext("You cannot match your own need and offer."),
    "cannot be null": lazy_gettext("Fill this in."),
}
FIELD_HINTS: dict[str, Any] = {
    "handle": lazy_gettext("3 to 30 characters: small letters, digits and _ only."),
    "email": lazy_gettext("Write a full email address, like name@example.org."),
    "phone": lazy_gettext("Digits, spaces and + ( ) - only."),
}


class FormErrors(Exception):
    """A form with fields at fault: `fields` maps each field to the reason, `message` sums up."""

    def __init__(self, fields: Mapping[str, str], message: str | None = None) -> None:
        super().__init__(message or "")
        self.fields = dict(fields)
        self.message = message or gettext("Some answers need another look.")


def text(form: Mapping[str, str], *names: str) -> dict[str, Any]:
    """The named fields of a form, stripped; empty ones left out so that defaults apply."""
    values: dict[str, Any] = {}
    for name in names:
        value = (form.get(name) or "").strip()
        if value:
            values[name] = value
    return values


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate form data against a service input model, or raise FormErrors in plain words."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormErrors(_pydantic_reasons(exc.errors())) from None


def _pydantic_reasons(errors: Iterable[Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in errors:
        field = str(error["loc"][0]) if error["loc"] else "form"
        fields.setdefault(field, _reason(field, error["type"], error.get("ctx") or {}))
    return fields


def _reason(field: str, kind: str, ctx: dict[str, Any]) -> str:
    if kind == "missing":
        return gettext("Fill this in.")
    if kind == "string_too_short":
        if ctx.get("min_length", 1) <= 1:
            return gettext("Fill this in.")
        return gettext("Too short: at least %(n)s characters.", n=ctx["min_length"])
    if kind == "string_too_long":
        return gettext("Too long: at most %(n)s characters.", n=ctx["max_length"])
    if kind == "string_pattern_mismatch" and field in FIELD_HINTS:
        return str(FIELD_HINTS[field])
    if kind in ("float_parsing", "int_parsing", "greater_than", "less_than_equal", "finite_number"):
        return gettext("Write a number greater than 0.")
    if kind.startswith(("datetime", "timezone")):
        return gettext("Choose a date and time.")
    if kind == "enum":
        return gettext("Choose one of the options.")
    if kind == "value_error" and field == "form":
        return gettext("The end must come after the start.")
    return gettext("Check this answer.")


def from_problem(problem: Problem) -> FormErrors:
    """A service's refusal as form errors: each field's reason in plain words."""
    fields = {error.field: str(REASONS.get(error.reason, error.reason)) for error in problem.errors}
    return FormErrors(fields, None if fields else problem_message(problem))


def problem_message(problem: Problem) -> str:
    """A sentence for a refusal that names no field."""
    messages: dict[str, Any] = {
        "forbidden": lazy_gettext("You may not do this."),
        "not-found": lazy_gettext("We could not find this. It may have been removed."),
        "invalid-state": lazy_gettext("This is no longer possible: it changed in the meantime."),
        "conflict": lazy_gettext("This clashes with something that already exists."),
        "validation": lazy_gettext("Some answers need another look."),
    }
    return str(messages.get(problem.slug, lazy_gettext("This did not work. Please try again.")))
