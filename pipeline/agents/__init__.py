"""Agent backends, picked by name in ``generate.backend``."""

from pipeline.agents.base import BACKENDS, AgentBackend, Call, Draft, Plan, Verdict  # noqa: F401
from pipeline.agents import world  # noqa: F401  (registers the "world" backend)
