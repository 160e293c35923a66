"""Camera agents: capture at the county station and publish to the city over WHIP."""

from .agent import Agent, AgentConfig
from .whip_client import WhipError, WhipPublisher

__all__ = ["Agent", "AgentConfig", "WhipError", "WhipPublisher"]
