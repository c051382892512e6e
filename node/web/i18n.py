"""Languages of the web pages: which one a request gets, and localised dates, numbers and units."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_skeleton, format_time, get_datetime_format
from babel.units import format_unit
from flask import Flask, request, session
from flask_babel import (
    Babel,
    format_datetime,
    format_decimal,
    format_timedelta,
    get_locale,
    to_user_timezone,
)

from node.db import utcnow

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
SOURCE_LANGUAGE = "en"
babel = Babel()


def supported_languages() -> list[str]:
    """The source language plus every language with a compiled catalogue."""
    found = sorted(p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.mo"))
    return [SOURCE_LANGUAGE, *(code for code in found if code != SOURCE_LANGUAGE)]


def select_locale() -> str:
    """The language asked for in the URL, then the one chosen earlier, then the browser's."""
    languages = supported_languages()
    for chosen in (request.args.get("lang"), session.get("lang")):
        if chosen in languages:
            return str(chosen)
    return request.accept_languages.best_match(languages) or SOURCE_LANGUAGE


def remember_language() -> None:
    """Keep a language chosen with ?lang= for the following pages."""
    chosen = request.args.get("lang")
    if chosen in supported_languages() and session.get("lang") != chosen:
        session["lang"] = chosen


def language_names() -> list[tuple[str, str]]:
    """Each supported language with its name in that language, for the language switcher."""
    names = {code: Locale.parse(code).get_display_name(code) or code for code in supported_languages()}
    return [(code, name.capitalize()) for code, name in names.items()]


SKELETONS = {"medium": "yMMMEd", "short": "yMMMd"}


def when(value: datetime | None, form: str = "medium") -> str:
    """A date and time in the reader's language and the node's time zone ('Mon, Mar 4, 2030, 6:30 PM')."""
    if value is None:
        return ""
    if form not in SKELETONS:
        return str(format_datetime(value, form))
    local, locale = to_user_timezone(value), get_locale()
    day = format_skeleton(SKELETONS[form], local, locale=locale)
    hour = format_time(local, "short", locale=locale)
    return str(get_datetime_format("medium", locale=locale)).replace("{1}", day).replace("{0}", hour)


def ago(value: datetime | None) -> str:
    """How long ago (or from now) a moment is, in words of the reader's language."""
    if value is None:
        return ""
    return str(format_timedelta(value - utcnow(), add_direction=True, granularity="minute"))


def number(value: float | int | None) -> str:
    """A number with the reader's decimal and grouping marks."""
    if value is None:
        return ""
    return str(format_decimal(value, format="#,##0.##"))


def kilometres(value: float) -> str:
    """A distance such as '1.2 km' in the reader's language."""
    return format_unit(round(value, 1), "length-kilometer", length="short", locale=get_locale())


def duration(value: timedelta) -> str:
    """A length of time such as '3 days' in the reader's language."""
    return str(format_timedelta(value, threshold=1.5))


def init_app(app: Flask) -> None:
    """Set up Flask-Babel with the node's time zone and the filters the templates use."""
    settings = app.config["MUTUALAID"]
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", getattr(settings, "time_zone", "UTC"))
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
    filters: dict[str, Any] = {
        "when": when,
        "ago": ago,
        "number": number,
        "km": kilometres,
        "duration": duration,
    }
    app.jinja_env.filters.update(filters)
    app.jinja_env.globals["get_locale"] = get_locale
