"""How long to wait before trying again: one rule for every retry schedule."""

from __future__ import annotations

import random
from collections.abc import Sequence


def backoff_delay(
    *,
    schedule: Sequence[float],
    failures: int,
    retry_after: float | None = None,
    retry_after_cap: float | None = None,
    jitter: float = 0.2,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after `failures` failed tries (1 = the first), by a schedule of seconds.

    The schedule's last value repeats. With `jitter` 0.2 the wait is drawn
    from ±20 % of it, so many retries due together spread out. A Retry-After
    wins only when it asks for longer, and no longer than `retry_after_cap`.
    """
    base = schedule[min(max(failures, 1), len(schedule)) - 1]
    # No draw without jitter: a fixed schedule leaves the random generator alone.
    delay = base * (rng or random).uniform(1 - jitter, 1 + jitter) if jitter else float(base)
    if retry_after is not None:
        delay = max(delay, retry_after if retry_after_cap is None else min(retry_after, retry_after_cap))
    return delay
