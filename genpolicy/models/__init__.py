"""Plain torch networks and policies (no Lightning). Importing registers the built-in policies."""

from genpolicy.models.base import Policy, PolicyConfig, build_policy, load_policy, register_policy
from genpolicy.models import policies  # noqa: F401  (registers BC policies)

__all__ = ["Policy", "PolicyConfig", "build_policy", "load_policy", "register_policy"]
