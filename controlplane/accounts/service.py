"""The account services wired together once (Services.accounts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .access_tokens import AccessTokens
from .api_keys import ApiKeyService
from .authenticate import Authenticator
from .config import AccountsConfig
from .invitations import InvitationService
from .members import MemberService
from .passwords import Passwords
from .rate_limits import RateLimits
from .sessions import LoginSessionService
from .teams import DeletionCheck, TeamService
from .users import UserService


@dataclass(frozen=True)
class AccountServices:
    config: AccountsConfig
    users: UserService
    login_sessions: LoginSessionService
    api_keys: ApiKeyService
    teams: TeamService
    members: MemberService
    invitations: InvitationService
    authenticator: Authenticator
    access_tokens: AccessTokens
    rate_limits: RateLimits


def build_accounts(
    sessions: async_sessionmaker[AsyncSession],
    config: AccountsConfig,
    team_deletion_checks: Sequence[DeletionCheck] = (),
) -> AccountServices:
    passwords = Passwords(config.password_hash_time_cost, config.password_hash_memory_kib)
    access_tokens = AccessTokens(config.jwt_secret, config.access_token_ttl_s)
    return AccountServices(
        config=config,
        users=UserService(sessions, passwords),
        login_sessions=LoginSessionService(sessions, access_tokens, config.session_ttl_s),
        api_keys=ApiKeyService(sessions),
        teams=TeamService(sessions, team_deletion_checks),
        members=MemberService(sessions),
        invitations=InvitationService(sessions, config.invitation_ttl_s),
        authenticator=Authenticator(sessions, access_tokens),
        access_tokens=access_tokens,
        rate_limits=RateLimits.from_config(config),
    )
