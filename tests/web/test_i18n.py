"""English and Spanish: complete catalogues, language choice, localised dates and numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from node.web.i18n import TRANSLATIONS, supported_languages
from tests.web.pages import Pages, location, member_pages, need_form, text


def _catalogue(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def _read(path: Path, lang: str | None = None, compiled: bool = False) -> Catalog:
    with path.open("rb") as handle:
        return read_mo(handle) if compiled else read_po(handle, locale=lang)


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def test_english_and_spanish_are_complete_and_compiled() -> None:
    assert {"en", "es"} <= set(supported_languages())
    template = {m.id for m in _read(TRANSLATIONS / "messages.pot") if m.id}
    for lang in ("en", "es"):
        catalogue = _read(_catalogue(lang), lang)
        ids = {m.id for m in catalogue if m.id}
        assert ids == template, f"{lang}: run the catalogue update"
        for message in catalogue:
            if not message.id:
                continue
            assert "fuzzy" not in message.flags, message.id
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"{lang}: no translation for {message.id!r}"
        compiled = _read(_catalogue(lang).with_suffix(".mo"), compiled=True)
        built = {_key(m.id): _key(m.string) for m in compiled if m.id}
        assert built == {_key(m.id): _key(m.string) for m in catalogue if m.id}, (
            f"{lang}: compile the catalogue"
        )


def test_browser_language_is_used(client: Any) -> None:
    page = text(client.get("/login", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}))
    assert '<html lang="es">' in page and "Entrar" in page and "Contraseña" in page
    assert '<html lang="en">' in text(client.get("/login", headers={"Accept-Language": "fr"}))


def test_chosen_language_sticks(app: Any) -> None:
    alice = member_pages(app, "alice")
    assert "Lo que necesita el barrio" in text(alice.get("/needs?lang=es"))
    assert "Tus acuerdos" in text(alice.get("/matches"))
    assert "Your matches" in text(alice.get("/matches?lang=en"))


def test_numbers_dates_and_units_are_localised(app: Any) -> None:
    alice = member_pages(app, "alice")
    path = location(
        alice.post(
            "/needs/new",
            need_form(quantity="1234.5", unit="litre", available_until="2030-03-04T18:30"),
            token_from="/needs/new",
        )
    )
    english = text(alice.get(path + "?lang=en"))
    assert "1,234.5 litres" in english and "until Mar 4, 2030, 6:30 PM" in english
    spanish = text(alice.get(path + "?lang=es"))
    assert "1234,5 litros" in spanish or "1.234,5 litros" in spanish
    assert "hasta 4 mar 2030, 18:30" in spanish and "Urgente" in spanish


def test_service_refusals_are_translated(app: Any) -> None:
    alice = member_pages(app, "alice")
    alice.get("/?lang=es")
    response = alice.post(
        "/me/password", {"current_password": "wrong", "new_password": "long enough one"}, token_from="/me"
    )
    assert "No es correcto" in text(response)
    visitor = Pages(app.test_client())
    visitor.get("/login?lang=es")
    assert "Correo o contraseña incorrectos." in text(visitor.login("nobody@example.org", "x"))
