"""Retry policy of subscriber handlers: exponential backoff with a cap and jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

from core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` handler runs in all; waits base·2^(n-1), at most `cap`, ± jitter share."""

    attempts: int = 3
    base_s: float = 0.1
    cap_s: float = 5.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError("retry attempts must be at least 1")
        if self.base_s < 0 or self.cap_s < 0 or not 0 <= self.jitter <= 1:
            raise ConfigError("retry base and cap must be ≥ 0 and jitter in [0, 1]")

    def backoff(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `failed_attempt`-th failure (1-based)."""
        delay = min(self.cap_s, self.base_s * (2 ** (failed_attempt - 1)))
        if self.jitter:
            spread = delay * self.jitter
            delay += (rng or random).uniform(-spread, spread)
        return max(0.0, delay)


NO_RETRY = RetryPolicy(attempts=1)
