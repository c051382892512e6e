"""Pagination shared by every list endpoint: `?page=&per_page=` in, a page envelope out."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
PER_PAGE_MAX = 100


class PageQuery(BaseModel):
    """Which page of a list to return."""

    model_config = ConfigDict(extra="forbid")
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=PER_PAGE_MAX)


class Page(BaseModel, Generic[T]):
    """One page of a list and how to get the next."""

    items: list[T]
    page: int
    per_page: int
    total: int
    next_page: int | None


def paginate(session: Session, stmt: Select[Any], query: PageQuery) -> tuple[list[Any], int]:
    """Run `stmt` for one page and count all its rows."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.limit(query.per_page).offset((query.page - 1) * query.per_page))
    return list(rows), total


def page_of(items: list[T], total: int, query: PageQuery) -> dict[str, Any]:
    """The page envelope for already-serialised items."""
    more = query.page * query.per_page < total
    return {
        "items": items,
        "page": query.page,
        "per_page": query.per_page,
        "total": total,
        "next_page": query.page + 1 if more else None,
    }
