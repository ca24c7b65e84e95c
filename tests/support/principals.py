"""Principals for tests that reach past the API: the system (sees every job) and the anonymous user."""

from spt_api.uws.principal import ANONYMOUS, Principal

__all__ = ["ANONYMOUS", "SYSTEM"]

SYSTEM = Principal.system_actor("tests")
