"""What the members API takes and gives."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Handle = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9_]{3,30}$", strip_whitespace=False)
]
Email = Annotated[
    str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$", max_length=254)
]
Password = Annotated[str, StringConstraints(min_length=10, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,30}$")]


class Input(BaseModel):
    """Base of request bodies: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store NUL in text, and no person types one: refuse it for every field.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class JoinIn(Input):
    handle: Handle
    display_name: Name
    email: Email
    password: Password
    phone: Phone | None = None
    invitation: str | None = Field(default=None, max_length=200)


class LoginIn(Input):
    email: Email
    password: str = Field(max_length=200)


class MemberUpdate(Input):
    display_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    bio: str | None = Field(default=None, max_length=2000)
    languages: str | None = Field(default=None, max_length=120)


class PasswordChange(Input):
    current_password: str = Field(max_length=200)
    new_password: Password


class EraseIn(Input):
    password: str = Field(max_length=200)


class MemberPublic(BaseModel):
    """What other members of this node see of a member."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    handle: str
    display_name: str
    bio: str
    is_steward: bool = False


class MemberPrivate(MemberPublic):
    """What a member sees of themselves."""

    email: str
    phone: str | None
    languages: str
    created_at: datetime


class TokenIn(Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its hash is kept")


class InvitationIn(Input):
    note: str = Field(default="", max_length=200)


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    note: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


class InvitationCreated(InvitationOut):
    token: str
    url: str


class StewardGrant(Input):
    handle: Handle
    days: int = Field(ge=1, le=3650)
    reason: str = Field(default="", max_length=300)


class StewardTermOut(BaseModel):
    id: uuid.UUID
    handle: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    granted_by: str | None


class StewardTermList(BaseModel):
    items: list[StewardTermOut]
