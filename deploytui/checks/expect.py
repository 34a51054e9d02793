"""Shared mechanics every check kind uses: expectations, status codes, latency, evidence excerpts.

Kinds import from here instead of re-implementing comparisons or text cleaning:

    from deploytui.checks.expect import compare, check_status, Stopwatch, excerpt, condition_reason

- `compare(value, op, threshold)`: a numeric/str comparison with ops ==, !=, <, <=, >, >=.
- `parse_condition("< 0.01")` / `condition_reason(name, value, cond)`: a TOML expectation written as a
  number (means ==) or a string "<op> <number>" (e.g. `expect = { value = "< 0.01" }`); the reason
  is None when it holds, else a one-line sentence like "error_rate is 0.05, expected < 0.01".
  `condition_problems(expect, keys)`: for `validate`, a sentence for each of those that is malformed.
- `status_matches(code, expected)` / `check_status(code, expected)`: expected is an int, a list of
  ints, or a class string like "2xx"; `check_status` returns None or "status 500, expected 200".
- `Stopwatch`: `with Stopwatch() as sw: ...; sw.ms` (monotonic, integer milliseconds).
- `clean(text)`: ANSI/OSC escapes and control characters (but TAB/LF) removed, CR-overwrites resolved.
- `excerpt(text, redactor)`: the last EXCERPT_LINES lines, cleaned, each capped, redacted.
- `one_line(text)`: a reason-safe single line (cleaned, whitespace collapsed, capped).
- `network_reason(exc, target)`: "connection refused by 127.0.0.1:5432" / "DNS lookup failed for x" /
  "TLS error ..." / "timed out ..." for the usual socket-level exceptions of any client.
- `exception_chain(exc)` / `http_timed_out(exc)`: an exception and its causes, each once; whether an
  httpx timeout is among them.
- `percentile(samples, p)`: nearest-rank percentile.
"""

from __future__ import annotations

import errno
import math
import operator
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from deploytui.core.text import (
    one_line,
)

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
"""Comparison operators an expectation may use."""

_COND_RE = re.compile(r"^\s*(==|=|!=|<=|>=|<|>)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(%?)\s*$")


def compare(value: Any, op: str, threshold: Any) -> bool:
    """`value <op> threshold`; ValueError for an unknown operator, False when not comparable."""
    try:
        fn = OPS[op]
    except KeyError:
        raise ValueError(f"unknown comparison {op!r} (use one of {', '.join(OPS)})") from None
    try:
        return bool(fn(value, threshold))
    except TypeError:
        return False


def _finite(number: float, given: Any) -> float:
    """A threshold that compares: NaN never does and an infinity is no threshold (`1e400` is one)."""
    if not math.isfinite(number):
        raise ValueError(f"a threshold must be a finite number, got {str(given)[:40]}")
    return number


def parse_condition(cond: Any) -> tuple[str, float]:
    """A condition from config: a number (means ==) or "<op> <number>" like "< 0.01", ">= 30%".

    A trailing % divides by 100 ("> 30%" is "> 0.3"). ValueError with a readable message otherwise.
    """
    if isinstance(cond, bool):
        raise ValueError(f"expected a number or a condition like \"< 0.01\", got {cond!r}")
    if isinstance(cond, (int, float)):
        return "==", _finite(float(cond), cond)
    if isinstance(cond, str):
        m = _COND_RE.match(cond)
        if m:
            number = _finite(float(m.group(2)), cond)
            if m.group(3):
                number /= 100.0
            return m.group(1), number
    raise ValueError(f"expected a number or a condition like \"< 0.01\" or \">= 30%\", got {cond!r}")


def condition_problems(expect: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """For a kind's `validate`: a sentence for each of `keys` present in `expect` that is not a condition."""
    problems: list[str] = []
    for key in keys:
        if key in expect:
            try:
                parse_condition(expect[key])
            except ValueError as exc:
                problems.append(f"expect.{key}: {exc}")
    return problems


def condition_reason(name: str, value: float | int | None, cond: Any) -> str | None:
    """None when `value` satisfies `cond`, else a one-line reason naming `name`."""
    op, threshold = parse_condition(cond)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{name} has no value, expected {op} {fmt_number(threshold)}"
    if compare(value, op, threshold):
        return None
    return f"{name} is {fmt_number(value)}, expected {op} {fmt_number(threshold)}"


def fmt_number(value: float | int) -> str:
    """Numbers for reasons: integers without a decimal point, others with up to 4 significant digits."""
    if isinstance(value, bool):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


RATE_LIMITED = 429
"""Too Many Requests: the target's rate limiter, never the verdict of a check that does not judge it."""


def status_matches(code: int, expected: int | str | Sequence[int | str]) -> bool:
    """True when `code` is the expected status, one of a list, or in a class like "2xx".

    A class never matches 429 ("4xx" means a client error, not "the target refused to judge"): only an
    expectation that names 429 itself accepts it."""
    if isinstance(expected, (list, tuple)):
        return any(status_matches(code, e) for e in expected)
    if isinstance(expected, bool):
        return False
    if isinstance(expected, int):
        return code == expected
    if isinstance(expected, str):
        text = expected.strip().lower()
        if len(text) == 3 and text.endswith("xx") and text[0].isdigit():
            return code // 100 == int(text[0]) and code != RATE_LIMITED
        if text.isdigit():
            return code == int(text)
    return False


def names_status(expected: int | str | Sequence[int | str], code: int) -> bool:
    """Whether an expectation names `code` itself (not through a class like "4xx")."""
    if isinstance(expected, (list, tuple)):
        return any(names_status(e, code) for e in expected)
    if isinstance(expected, bool):
        return False
    if isinstance(expected, int):
        return expected == code
    if isinstance(expected, str):
        return expected.strip() == str(code)
    return False


def parse_retry_after(value: str | None, date: str | None = None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds, or an HTTP date (measured from the
    answer's own Date header when it has one). None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(text)
            base = parsedate_to_datetime(date) if date else None
        except (TypeError, ValueError, IndexError):
            return None
        if base is None:
            import datetime as _dt

            base = _dt.datetime.now(_dt.UTC)
        try:
            seconds = (when - base).total_seconds()
        except TypeError:  # one naive, one aware
            return None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def rate_limited_reason(retry_after: float | None) -> str:
    """`rate limited by the target (429, Retry-After 8 s)`: the reason of a check the target refused."""
    wait = "no Retry-After"
    if retry_after is not None:
        wait = f"Retry-After {fmt_number(round(retry_after, 1))} s"
    return f"rate limited by the target (429, {wait})"


def describe_expected_status(expected: int | str | Sequence[int | str]) -> str:
    if isinstance(expected, (list, tuple)):
        return " or ".join(str(e) for e in expected)
    return str(expected)


def check_status(code: int, expected: int | str | Sequence[int | str]) -> str | None:
    """None when `code` matches, else a reason like "status 500, expected 200"."""
    if status_matches(code, expected):
        return None
    return f"status {code}, expected {describe_expected_status(expected)}"


class Stopwatch:
    """Elapsed wall time on the monotonic clock: `with Stopwatch() as sw: ...` then `sw.ms`."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.end: float | None = None

    def __enter__(self) -> Stopwatch:
        self.start = time.monotonic()
        self.end = None
        return self

    def __exit__(self, *exc: object) -> None:
        self.end = time.monotonic()

    @property
    def seconds(self) -> float:
        return (self.end if self.end is not None else time.monotonic()) - self.start

    @property
    def ms(self) -> int:
        return int(round(self.seconds * 1000))


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc`, what caused it (or was being handled when it was raised), what caused that, ... each once.

    Clients wrap socket errors (httpx in qdrant-client and google-genai, urllib3 in requests, psycopg):
    the kind that classifies a failure looks along this chain, not only at the outermost exception.
    """
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def http_timed_out(exc: BaseException) -> bool:
    """Whether an httpx timeout (or a TimeoutError) is anywhere in `exc`'s chain."""
    import httpx

    return any(isinstance(e, (httpx.TimeoutException, TimeoutError)) for e in exception_chain(exc))


_DNS_MESSAGES = ("name or service not known", "nodename nor servname", "temporary failure in name")


def network_reason(exc: BaseException, target: str) -> str | None:
    """A readable reason for a socket-level failure reaching `target`, or None if `exc` is not one.

    Walks the exception's cause/context chain, so wrapped errors (httpx, redis, psycopg) classify too.
    """
    chain = exception_chain(exc)
    for current in chain:
        # aiohttp wraps the refusal in its own OSError subclass carrying the errno (and a TLS or DNS failure
        # in one whose errno is the inner error's): the specific causes are looked for along the whole
        # chain before any OSError is taken for a generic one.
        if isinstance(current, ConnectionRefusedError) or (
            isinstance(current, OSError) and current.errno == errno.ECONNREFUSED
        ):
            return f"connection refused by {target}"
        if isinstance(current, socket.gaierror):
            return f"DNS lookup failed for {target}"
        if isinstance(current, ssl.SSLError):
            # The innermost: a client's wrapper of it is an SSLError too, without the library's fields.
            inner = [e for e in chain if isinstance(e, ssl.SSLError)][-1]
            if isinstance(inner, ssl.SSLCertVerificationError):
                detail = one_line(getattr(inner, "verify_message", None) or str(inner), 160)
                return f"TLS certificate not trusted for {target}: {detail}"
            detail = one_line(getattr(inner, "reason", None) or str(inner), 160)
            return f"TLS error with {target}: {detail}"
        if isinstance(current, (TimeoutError, socket.timeout)):
            return f"timed out reaching {target}"
        if isinstance(current, ConnectionResetError):
            return f"connection reset by {target}"
    for current in chain:
        if isinstance(current, OSError) and current.errno is not None:
            return f"cannot reach {target}: {one_line(current.strerror or str(current), 160)}"
    text = str(exc).lower()
    if "connection refused" in text or "connect call failed" in text:
        return f"connection refused by {target}"
    if any(m in text for m in _DNS_MESSAGES):
        return f"DNS lookup failed for {target}"
    if "certificate verify failed" in text:
        return f"TLS certificate not trusted for {target}"
    return None


def exception_reason(exc: BaseException) -> str:
    """One line for an unexpected exception: its type and message (never a traceback)."""
    message = one_line(str(exc), 200)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
