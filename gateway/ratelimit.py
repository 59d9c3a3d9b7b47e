"""In-memory token buckets per client address, per user and per API key (429 with Retry-After)."""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from gateway import apikeys


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """A bounded set of buckets of one kind: `capacity` tokens, refilled at `rate` per second."""

    def __init__(self, capacity: float, rate: float, max_keys: int = 100_000) -> None:
        self.capacity = capacity
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float:
        """Takes one token; returns 0 when allowed, else the seconds until a token is back."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = Bucket(self.capacity, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate if self.rate > 0 else 3600.0


class RateLimiter:
    """The gateway's limits: each request takes from its address's bucket, and its user's or key's."""

    def __init__(self, settings) -> None:
        self.kinds = {
            "ip": TokenBuckets(settings.rate_limit_ip_capacity, settings.rate_limit_ip_per_second),
            "user": TokenBuckets(settings.rate_limit_user_capacity, settings.rate_limit_user_per_second),
            "key": TokenBuckets(settings.rate_limit_key_capacity, settings.rate_limit_key_per_second),
        }

    def check(self, keys: list[tuple[str, str]]) -> tuple[str, int] | None:
        """Returns (kind, retry-after seconds) of the first exhausted bucket, or None when allowed."""
        for kind, key in keys:
            wait = self.kinds[kind].take(key)
            if wait > 0:
                return kind, max(1, math.ceil(wait))
        return None


def key_bucket(api_key: str) -> str:
    """The bucket of a department key as presented: its public id and a digest of the whole key, so a made-up key
    naming a department's key id (logged, not secret) does not spend that department's allowance."""
    return f"{apikeys.key_id_of(api_key)}:{hashlib.sha256(api_key.encode()).hexdigest()[:16]}"
