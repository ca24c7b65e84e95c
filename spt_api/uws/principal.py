"""Who is asking: every job-store, job-service, cache and event call carries one.

A user sees their own jobs; an admin and the system (reconciler, cleanup,
workers, metrics) see every job. With authentication off, requests come from
the anonymous user, who owns the jobs with no owner (UWS §2.1.8: ownerId nil).
Nothing means "every job" by default: the caller must say which principal it is.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ANONYMOUS", "Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    #: The user's stable id (the token's subject); None for the anonymous user and for the system.
    user_id: str | None
    roles: frozenset[str] = frozenset()
    #: Sees and may change every job (the admin role).
    admin: bool = False
    #: The part of the system acting (``"reconciler"``, ``"worker"``): sees every job. None for users.
    system: str | None = None
    #: The user's login name (the token's ``preferred_username``), shown as a job's ownerId; it may change
    #: (a renamed account) or be reused by another account, so it never decides which jobs are whose.
    username: str | None = None

    @classmethod
    def user(
        cls, user_id: str, roles: frozenset[str] = frozenset(), *, admin: bool = False, username: str | None = None
    ) -> Principal:
        return cls(user_id=user_id, roles=roles, admin=admin, username=username)

    @classmethod
    def system_actor(cls, name: str) -> Principal:
        """The system acting as ``name`` (reconciler, cleanup, worker, metrics): sees every job."""
        return cls(user_id=None, system=name)

    @property
    def sees_all(self) -> bool:
        return self.admin or self.system is not None

    @property
    def owner(self) -> str | None:
        """The owner a job created by this principal gets."""
        return self.user_id

    @property
    def owner_name(self) -> str | None:
        """The name a job created by this principal shows as its ownerId (the subject when it has none)."""
        return self.username or self.user_id

    def may_see(self, owner: str | None) -> bool:
        """Whether a job owned by ``owner`` is visible to this principal."""
        return self.sees_all or owner == self.user_id


#: Every request while authentication is off: owns (and sees) the jobs that have no owner.
ANONYMOUS = Principal(user_id=None)
