"""Redis adapters: the Streams job queue, its Trio-native transport and the leader lock."""

from finagent.adapters.redis.lock import RedisLeaderLock
from finagent.adapters.redis.queue import RedisJobQueue, open_redis_queue
from finagent.adapters.redis.transport import RedisTransport, open_redis_transport

__all__ = [
    "RedisJobQueue",
    "RedisLeaderLock",
    "RedisTransport",
    "open_redis_queue",
    "open_redis_transport",
]
