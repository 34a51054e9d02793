"""Parsing of human durations in config: "10s", "500ms", "2m", "1h", or a bare number of seconds.

Every duration is finite and bounded: NaN, infinities and values past `limit` (a day, unless the caller
allows more, like a backup's max age) are refused with a readable message, so a typo like `timeout =
1e308` is a config error naming its line instead of an OverflowError at run time.
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")

MAX_DURATION = 86400.0
"""The longest duration a check may wait (a timeout, an interval): a day."""

MAX_AGE = 366 * 86400.0
"""The longest age or look-back (a backup's max_age, docker logs_since): a year."""


def parse_duration(value: object, limit: float = MAX_DURATION) -> float:
    """Seconds from "10s" / "250ms" / 3 / 2.5, at most `limit`; ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like \"10s\", got {value!r}")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if math.isnan(seconds):
            raise ValueError("a duration must be a number, got nan")
        if seconds < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return _bounded(seconds, limit, value)
    if isinstance(value, str):
        m = _RE.match(value)
        if m:
            return _bounded(float(m.group(1)) * _UNITS[m.group(2) or "s"], limit, value)
    raise ValueError(f"expected a duration like \"10s\", \"500ms\" or \"2m\", got {value!r}")


def _bounded(seconds: float, limit: float, given: object) -> float:
    if not seconds <= limit:  # also inf
        shown = (given if isinstance(given, str) else repr(given))[:40]
        most = f"{limit / 86400:g}d" if limit >= 86400 else format_duration(limit)
        raise ValueError(f"a duration must be finite and at most {most}, got {shown}")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_took(ms: float) -> str:
    """How long something took, as every screen and text report shows it: `850 ms` under a second,
    `8.0 s` under a minute, `2 m 05 s` under an hour, `1 h 02 m` beyond. One formatter, so a pane never
    shows `8026 ms` beside `last 8s`. (`format_duration` is the config's spelling: `10s`, `2m`.)"""
    ms = max(0.0, float(ms)) if math.isfinite(ms) else 0.0
    if ms < 999.5:  # 999.6 ms would print as 1000 ms
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 59.95:  # 59.96 s would print as 60.0 s
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"
