"""Live job events: phase and progress changes, published by workers, awaited by WAIT and WebSockets."""

from spt_api.events.bus import EventBus, EventPublisher, InProcessEventBus, Subscription
from spt_api.events.messages import JobEvent
from spt_api.events.redis_bus import RedisEventBus, RedisEventPublisher

__all__ = [
    "EventBus",
    "EventPublisher",
    "InProcessEventBus",
    "JobEvent",
    "RedisEventBus",
    "RedisEventPublisher",
    "Subscription",
]
