"""Request bodies of the accounts routes. Pydantic validates them, so a bad value comes back
as 400 naming the field; the services check the rest (e.g. an email's shape)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from ..accounts.caller import Role
from ..accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from ..accounts.users import MAX_EMAIL_LENGTH

Email = Annotated[
    str, Field(min_length=3, max_length=MAX_EMAIL_LENGTH, examples=["ada@example.com"])
]
Name = Annotated[str, Field(min_length=1, max_length=255)]


class RegisterBody(BaseModel):
    email: Email
    password: Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
    display_name: Annotated[str, Field(max_length=255)] = ""


class LoginBody(BaseModel):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class RefreshBody(BaseModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class ApiKeyBody(BaseModel):
    name: Name
    expires_in_s: Annotated[float | None, Field(gt=0, le=10 * 365 * 86400)] = None
    """Lifetime in seconds; none: until revoked."""


class TeamBody(BaseModel):
    name: Name


class SwitchTeamBody(BaseModel):
    team_id: Annotated[str, Field(min_length=1, max_length=64)]


class MemberBody(BaseModel):
    email: Email
    role: Role = Role.MEMBER


class RoleBody(BaseModel):
    role: Role


class InvitationBody(BaseModel):
    email: Email
    role: Role = Role.MEMBER
