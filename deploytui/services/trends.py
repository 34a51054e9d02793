"""Trends the detail pane draws: a check's durations across its runs, a samples check's latencies, and a
Prometheus threshold check's series over a window. The data is gathered here (and fetched by the check
kind); the TUI only draws it.

- A check's durations across runs are in the session's state (`ItemState.run_durations`, rebuilt
  from the event log like the history): the detail pane reads them there when the item is drawn.
- `sample_latencies(values)`: the `latencies_ms` a `samples` http check measured, and their p50/p95.
- `prometheus_window(config, spec, end)`: the check's query over the TREND_WINDOW before `end`
  (`query_range`), with its thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from deploytui.checks.expect import percentile
from deploytui.checks.kinds.prometheus import RangeResult, is_threshold_check, query_range
from deploytui.core.config import Config
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Scalar

TREND_WINDOW_SECONDS = 600.0
"""The window a Prometheus threshold check's series is drawn over: the 10 minutes before its last run
(or before now, when it has not run), long enough to show a trend, short enough for 1 s scrapes."""

TREND_POINTS = 60
"""Points asked of `query_range` over the window (a step of 10 s for 10 minutes)."""

__all__ = [
    "TREND_POINTS",
    "TREND_WINDOW_SECONDS",
    "LatencySamples",
    "RangeResult",
    "is_threshold_check",
    "prometheus_window",
    "sample_latencies",
]


@dataclass(frozen=True)
class LatencySamples:
    """The latencies of a samples check's requests (ms, in order) and their p50/p95."""

    latencies: list[float]
    p50: float
    p95: float


def sample_latencies(values: Mapping[str, Scalar]) -> LatencySamples | None:
    """The `latencies_ms` of a samples check's values, or None when it has none (another kind, an
    older session, a run that stopped at its first sample)."""
    raw = values.get("latencies_ms")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        latencies = [float(part) for part in raw.split()]
    except ValueError:
        return None
    return LatencySamples(latencies, percentile(latencies, 50), percentile(latencies, 95))


async def prometheus_window(config: Config, spec: CheckSpec, end: datetime) -> RangeResult:
    """The threshold check's query over the TREND_WINDOW_SECONDS before `end`, as the check would run it
    (variables, environment, secrets masked)."""
    ctx = CheckContext(
        vars=config.vars,
        env=config.environment(),
        redactor=config.redactor(),
        base_dir=config.base_dir,
        timeout=spec.timeout or config.timeout,
    )
    stop = end.timestamp()
    return await query_range(spec, ctx, stop - TREND_WINDOW_SECONDS, stop, TREND_POINTS)
