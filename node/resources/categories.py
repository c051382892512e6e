"""The categories of needs and offers: those of the plan, plus any the node adds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.errors import Conflict, FieldError, ValidationFailed
from node.resources.models import Category

BUILTIN: dict[str, str] = {
    "food": "Food",
    "meals": "Meals",
    "tools": "Tools",
    "skills": "Skills",
    "transport": "Transport and vehicles",
    "spaces": "Spaces",
    "childcare": "Childcare",
    "medical": "Medical and first aid",
    "shelter": "Shelter",
    "repairs": "Repairs",
    "other": "Other",
}

# Categories that can stand in for each other when suggesting matches.
RELATED: dict[str, set[str]] = {
    "food": {"meals"},
    "meals": {"food"},
    "tools": {"repairs"},
    "repairs": {"tools", "skills"},
    "skills": {"repairs"},
    "shelter": {"spaces"},
    "spaces": {"shelter"},
}


def ensure_builtin(db: Session, extra: list[str] | None = None) -> None:
    """Create the built-in categories, and extra ones from the settings, if missing."""
    existing = set(db.scalars(select(Category.slug)))
    wanted = dict(BUILTIN)
    for slug in extra or []:
        wanted.setdefault(slug, slug.replace("-", " ").replace("_", " ").capitalize())
    for slug, label in wanted.items():
        if slug not in existing:
            db.add(Category(slug=slug, label=label, builtin=slug in BUILTIN))
    db.flush()


def check_category(db: Session, slug: str, field: str = "category") -> str:
    """Refuse an unknown category with a reason naming the field."""
    if db.get(Category, slug) is None:
        raise ValidationFailed("unknown category", [FieldError(field, f"unknown category '{slug}'")])
    return slug


def add_category(db: Session, slug: str, label: str) -> Category:
    """Add a node-specific category."""
    if db.get(Category, slug) is not None:
        raise Conflict("category exists", [FieldError("slug", "already exists")])
    category = Category(slug=slug, label=label, builtin=False)
    db.add(category)
    db.flush()
    return category
