"""Who is calling: the one object every user-facing route reads its permissions from.

A request authenticates with `Authorization: Bearer <token>`, either a JWT access token
(a login session) or an API key (`tak_…`); both resolve to a Caller acting within one
team. Routes check roles with `Caller.require`; a resource of another team is reported
as not found (404), never as forbidden, so ids do not leak across teams.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..errors import NotFound, PermissionDenied


class Role(StrEnum):
    OWNER = "owner"
    MEMBER = "member"
    BILLING_ADMIN = "billing_admin"


ALL_ROLES = frozenset(Role)
"""Any member of the team."""
OPERATE_INSTANCES = frozenset({Role.OWNER, Role.MEMBER})
"""Create, hibernate, wake, delete instances; take and delete snapshots."""
MANAGE_TEAM = frozenset({Role.OWNER})
"""Rename or delete the team, invite, change roles, remove members."""
SEE_BILLING = frozenset({Role.OWNER, Role.BILLING_ADMIN})
"""Prices, savings and invoices."""


@dataclass(frozen=True)
class Caller:
    """An authenticated user acting within `team_id` with `role` in that team."""

    user_id: str
    email: str
    team_id: str
    role: Role
    is_operator: bool
    session_id: str | None = None
    """Set for a login session (JWT); None for an API key."""
    api_key_id: str | None = None
    """Set when the request came with an API key."""
    fleet_wide: bool = False
    """An operator acting on every team's resources (admin token, operator routes)."""

    @classmethod
    def operator_token(cls, name: str) -> Caller:
        """The operator behind admin token `name` (AdminService, operator HTTP routes): any
        team's instances, as an owner would, so gRPC runs the same checks as HTTP."""
        return cls(
            user_id="",
            email=f"admin token {name!r}",
            team_id="",
            role=Role.OWNER,
            is_operator=True,
            fleet_wide=True,
        )

    def require(self, allowed: frozenset[Role], action: str) -> None:
        """PermissionDenied (403) naming the action and the roles that may do it."""
        check_role(self.role, allowed, action)

    def require_operator(self) -> None:
        """Fleet-wide routes: NotFound-free 403, the route itself is public knowledge."""
        if not self.is_operator:
            raise PermissionDenied(
                "this route is for platform operators; an operator grants it on the server "
                "with `torpor-controlplane operators add EMAIL`"
            )

    def owns(self, team_id: str, what: str, ident: str) -> None:
        """NotFound unless the resource belongs to the caller's current team."""
        if team_id != self.team_id and not self.fleet_wide:
            raise NotFound(f"no {what} {ident} in your current team")


def check_role(role: Role, allowed: frozenset[Role], action: str) -> None:
    """`Caller.require` for a role in a team other than the current one (team routes)."""
    if role not in allowed:
        roles = ", ".join(sorted(allowed))
        raise PermissionDenied(f"your role in this team is {role}; {action} needs one of: {roles}")
