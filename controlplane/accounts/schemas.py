"""What the accounts API shows: plain frozen dataclasses, never a secret's hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .caller import Role


@dataclass(frozen=True)
class UserView:
    id: str
    email: str
    display_name: str
    is_operator: bool
    created_at: datetime


@dataclass(frozen=True)
class TokenPair:
    """What register, login and refresh return. The refresh token is shown only here."""

    access_token: str
    token_type: str
    expires_in: int
    """Seconds until the access token expires."""
    expires_at: datetime
    refresh_token: str
    session_id: str
    user: UserView
    team_id: str
    """The team the access token acts in (the user's current team)."""


@dataclass(frozen=True)
class AccessTokenView:
    access_token: str
    token_type: str
    expires_in: int
    expires_at: datetime


@dataclass(frozen=True)
class MeView:
    user: UserView
    team_id: str
    role: Role
    session_id: str | None
    api_key_id: str | None


@dataclass(frozen=True)
class SessionView:
    id: str
    user_agent: str
    address: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    current: bool
    """True for the session the request came with."""


@dataclass(frozen=True)
class SessionPage:
    items: list[SessionView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class ApiKeyView:
    id: str
    name: str
    team_id: str
    prefix: str
    """The start of the key (`tak_<id>`), to recognise it; the secret is never shown again."""
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class CreatedApiKey:
    """The one response that holds the key itself."""

    id: str
    name: str
    team_id: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    key: str


@dataclass(frozen=True)
class ApiKeyPage:
    items: list[ApiKeyView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class TeamView:
    id: str
    name: str
    created_at: datetime
    role: Role
    """The caller's role in this team."""
    current: bool
    """True for the caller's current team."""
    member_count: int


@dataclass(frozen=True)
class TeamPage:
    items: list[TeamView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class MemberView:
    user_id: str
    email: str
    display_name: str
    role: Role
    joined_at: datetime


@dataclass(frozen=True)
class MemberPage:
    items: list[MemberView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class InvitationView:
    id: str
    team_id: str
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class CreatedInvitation:
    """The one response that holds the invitation's token, to pass to the invitee."""

    id: str
    team_id: str
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime
    token: str


@dataclass(frozen=True)
class InvitationPage:
    items: list[InvitationView]
    total: int
    limit: int
    offset: int
