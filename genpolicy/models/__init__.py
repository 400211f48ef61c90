"""Plain torch networks and policies (no Lightning). Importing registers the built-in policies."""

from genpolicy.models.base import Policy, PolicyConfig, build_policy, load_policy, register_policy
from genpolicy.models import policies  # noqa: F401  (registers BC policies)
from genpolicy.models import diffusion  # noqa: F401  (registers the diffusion policy)
from genpolicy.models import cvae, transformers  # noqa: F401  (registers vae, gpt, dt)
from genpolicy.models import diffusion_ql  # noqa: F401  (registers diffusion-ql)
from genpolicy.models import skills  # noqa: F401  (registers skill-conditioned)

__all__ = ["Policy", "PolicyConfig", "build_policy", "load_policy", "register_policy"]
