"""kind = "prometheus": a PromQL instant query with thresholds, loaded alerting rules, readiness.

    [[check]]
    item = "deployment-steps/5-monitoring-setup/prometheus-collecting-metrics"
    kind = "prometheus"
    url = "${PROMETHEUS_URL}"                  # http://localhost:9090; user:password@ in it = basic auth
    query = 'up{job="rag-chatbot"}'
    expect = { min = 1 }                       # every returned sample >= 1

    [[check]]
    item = "deployment-steps/5-monitoring-setup/alerts-configured"
    kind = "prometheus"
    url = "${PROMETHEUS_URL}"
    rules = true                               # at least one alerting rule loaded, none failing
    ready = true                               # /-/ready answers 200

Expectations on a query: `nonempty` (default true: an empty result fails), `empty = true` (the result
must be empty, e.g. `ALERTS{alertstate="firing"}`), and thresholds every sample must meet: `min`
(>=), `max` (<=), or `op` with `value` (`op = ">", value = 0.999`). A failing reason names the series
(labels) and its value. A query Prometheus rejects (bad PromQL) is an `error` with Prometheus' own
message; `headers` adds request headers (e.g. a bearer token from a secret).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from deploytui.checks.base import (
    CheckKind,
    import_client,
    mask_outcome,
    masked_url,
    own_deadline,
    type_problems,
    url_masker,
)
from deploytui.checks.expect import OPS, compare, fmt_number
from deploytui.checks.kinds.http import (
    CLIENT_TIMEOUT_MARGIN,
    Answer,
    Client,
    Request,
    RequestFailed,
    new_client,
    send,
)
from deploytui.checks.kinds.http import Kind as HttpKind
from deploytui.core.durations import format_duration
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Scalar, Status
from deploytui.core.text import one_line

MAX_SERIES_IN_REASON = 3
"""Failing series named in a reason; the rest are counted ("and 7 more")."""


class Kind(CheckKind):
    name: ClassVar[str] = "prometheus"
    clients: ClassVar[tuple[str, ...]] = HttpKind.clients
    fields: ClassVar[frozenset[str]] = frozenset({"url", "query", "rules", "ready", "headers"})
    required: ClassVar[frozenset[str]] = frozenset({"url"})
    expect_fields: ClassVar[frozenset[str]] = frozenset({"nonempty", "empty", "op", "value", "min", "max"})
    summary: ClassVar[str] = "PromQL query with thresholds per series; alerting rules loaded; /-/ready"

    @classmethod
    def validate(cls, params: Any) -> list[str]:
        problems = super().validate(params)
        if not any(params.get(key) for key in ("query", "rules", "ready")):
            problems.append("kind 'prometheus' needs `query`, `rules = true` or `ready = true`")
        problems += type_problems(params, booleans=("rules", "ready"))
        headers = params.get("headers")
        if headers is not None and not (
            isinstance(headers, Mapping) and all(isinstance(v, str) for v in headers.values())
        ):
            problems.append(
                'headers must be a table of strings, like headers = { Authorization = "Bearer ..." }'
            )
        expect = params.get("expect")
        if isinstance(expect, Mapping):
            if expect and "query" not in params:
                problems.append("expect needs a `query` (rules and ready take no expectations)")
            try:
                _thresholds(expect)
            except ValueError as exc:
                problems.append(str(exc))
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        url = masked_url(str(ctx.param(spec, "url", "")))
        parts: list[str] = []
        if ctx.param(spec, "ready"):
            parts.append("/-/ready")
        query = ctx.param(spec, "query")
        if query:
            conds = " and ".join(f"{op} {fmt_number(v)}" for op, v in _thresholds(spec.expect))
            parts.append(
                f"query {one_line(str(query), 160)!r}" + (f", every sample {conds}" if conds else "")
            )
        if ctx.param(spec, "rules"):
            parts.append("alerting rules loaded")
        return f"Prometheus at {url}: " + "; ".join(parts)

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        url = str(ctx.param(spec, "url")).rstrip("/")
        mask = url_masker(url, ctx.redactor)
        outcome = await self._probe(spec, ctx, url)
        return mask_outcome(outcome, mask)

    async def _probe(self, spec: CheckSpec, ctx: CheckContext, url: str) -> Outcome:
        await import_client(*self.clients)  # ~0.15 s: off the event loop
        target = _target(url)
        query = ctx.param(spec, "query")
        expect = ctx.substitute(dict(spec.expect))
        headers = {str(k): str(v) for k, v in (ctx.param(spec, "headers") or {}).items()}
        budget = own_deadline(ctx.timeout)
        started = time.monotonic()
        values: dict[str, Scalar] = {}
        passed: list[str] = []
        phase = f"connecting to {target}"
        try:
            async with asyncio.timeout(budget), _client(budget, headers) as client:
                if ctx.param(spec, "ready"):
                    phase = f"waiting for {target}/-/ready"
                    response = await _get(client, f"{url}/-/ready")
                    if response.status != 200:
                        return Outcome(
                            Status.FAILED, f"Prometheus at {target} is not ready: {_http(response)}", values
                        )
                    passed.append("ready")
                if query:
                    phase = "running the query"
                    response = await _get(
                        client,
                        f"{url}/api/v1/query",
                        {"query": str(query), "timeout": f"{max(1, int(budget * 1000))}ms"},
                    )
                    result = _api_data(response, "query", target)
                    if isinstance(result, Outcome):
                        return result
                    outcome = _judge_query(str(query), result, expect, values, ctx.emit)
                    if outcome is not None:
                        return outcome
                    passed.append(f"{values['series']} series" + _range(values))
                if ctx.param(spec, "rules"):
                    phase = "reading /api/v1/rules"
                    response = await _get(client, f"{url}/api/v1/rules")
                    data = _api_data(response, "rules", target)
                    if isinstance(data, Outcome):
                        return data
                    outcome = _judge_rules(data, values, ctx.emit)
                    if outcome is not None:
                        return outcome
                    passed.append(
                        f"{values['alerting_rules']} alerting rule(s) in {values['rule_groups']} group(s)"
                    )
        except TimeoutError:
            return Outcome(Status.FAILED, f"timed out after {format_duration(ctx.timeout)} {phase}", values)
        except RequestFailed as exc:
            reason = f"{phase} failed: {exc.cause}" if exc.cause else exc.reason
            return Outcome(Status.FAILED, reason, values)
        values["duration_ms"] = int(round((time.monotonic() - started) * 1000))
        return Outcome(Status.PASSED, f"Prometheus at {target}: " + "; ".join(passed), values)


SERIES_MAX = 5
"""Series a range query keeps (the detail pane draws a few; the rest are counted)."""


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its name (labels) and its (unix time, value) points."""

    name: str
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class RangeResult:
    """A threshold check's query over a window (`query_range`): the series, the thresholds every sample
    must meet, and what went wrong ("" when it worked)."""

    series: list[RangeSeries] = field(default_factory=list)
    thresholds: list[tuple[str, float]] = field(default_factory=list)
    more: int = 0
    """Series returned beyond SERIES_MAX."""
    error: str = ""


def is_threshold_check(spec: CheckSpec) -> bool:
    """A prometheus check with a query and a threshold (`min`, `max` or `op`/`value`)."""
    if spec.kind != "prometheus" or not spec.params.get("query"):
        return False
    try:
        return bool(_thresholds(spec.expect))
    except ValueError:
        return False


async def query_range(
    spec: CheckSpec, ctx: CheckContext, start: float, end: float, points: int
) -> RangeResult:
    """The check's query evaluated over [start, end] (unix seconds) at about `points` steps, with
    Prometheus' /api/v1/query_range: the series the check's thresholds judge, over time. Never raises
    for a failing server: `error` says what happened (secrets masked)."""
    try:
        thresholds = _thresholds(ctx.substitute(dict(spec.expect)))
        url = str(ctx.param(spec, "url")).rstrip("/")
        query = str(ctx.param(spec, "query"))
        headers = {str(k): str(v) for k, v in (ctx.param(spec, "headers") or {}).items()}
    except Exception as exc:  # noqa: BLE001 - a missing variable, a bad threshold: said, never raised
        return RangeResult(error=one_line(ctx.redactor.redact(str(exc)), 200))
    mask = url_masker(url, ctx.redactor)
    target = _target(url)
    step = max(1.0, (end - start) / max(1, points))
    await import_client(*Kind.clients)
    try:
        budget = own_deadline(ctx.timeout)
        async with asyncio.timeout(budget), _client(budget, headers) as client:
            response = await _get(
                client,
                f"{url}/api/v1/query_range",
                {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
            )
        data = _api_data(response, "range query", target)
    except (TimeoutError, RequestFailed) as exc:
        reason = exc.reason if isinstance(exc, RequestFailed) else ""
        text = reason or f"range query to {target} timed out after {format_duration(ctx.timeout)}"
        return RangeResult(thresholds=thresholds, error=mask(text))
    if isinstance(data, Outcome):
        return RangeResult(thresholds=thresholds, error=mask(data.reason))
    raw = data.get("result") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(raw, list):
        return RangeResult(thresholds=thresholds, error="the range query answered no matrix")
    series = [
        RangeSeries(
            mask(_series_name(item.get("metric", {}))),
            [(float(t), _number(v)) for t, v in item.get("values", [])],
        )
        for item in raw[:SERIES_MAX]
    ]
    return RangeResult(series, thresholds, more=max(0, len(raw) - SERIES_MAX))


ANSWER_MAX_BYTES = 64 * 1024 * 1024
"""Largest Prometheus API answer read (a query matching a million series says so instead of filling
memory)."""


def _client(budget: float, headers: Mapping[str, str]) -> Client:
    # The client's own timeout comes after the check's budget: asyncio.timeout(budget) says which phase.
    return new_client(budget + CLIENT_TIMEOUT_MARGIN, follow_redirects=True, headers=headers)


async def _get(client: Client, url: str, query: dict[str, str] | None = None) -> Answer:
    return await send(client, Request("GET", url, query=query), keep=ANSWER_MAX_BYTES)


def _api_data(response: Answer, what: str, target: str) -> Any:
    """`data` of a Prometheus API answer, or the Outcome saying why there is none."""
    if response.truncated:
        return Outcome(
            Status.FAILED,
            f"{what} API at {target} answered over {ANSWER_MAX_BYTES:,} bytes: narrow the query",
        )
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Outcome(
            Status.FAILED, f"{what} API at {target} answered {_http(response)}, not Prometheus JSON"
        )
    if body.get("status") != "success":
        kind = str(body.get("errorType") or "error")
        message = one_line(str(body.get("error") or "no message"), 220)
        if kind == "bad_data":
            # The check's PromQL is wrong: a config problem, not a failing system.
            return Outcome(Status.ERROR, f"Prometheus rejected the {what} (bad_data): {message}")
        return Outcome(
            Status.FAILED, f"Prometheus {what} failed ({kind}, HTTP {response.status}): {message}"
        )
    return body.get("data")


def _judge_query(
    query: str, data: Any, expect: Mapping[str, Any], values: dict[str, Scalar], emit: Callable[[str], None]
) -> Outcome | None:
    """None when the result meets every expectation, else the failed Outcome naming series and values."""
    if not isinstance(data, dict):
        return Outcome(Status.FAILED, "query answer has no data", values)
    result_type = data.get("resultType")
    raw = data.get("result")
    samples: list[tuple[str, float]] = []
    if result_type == "vector":
        for item in raw or []:
            samples.append((_series_name(item.get("metric", {})), _number(item.get("value", [0, "NaN"])[1])))
    elif result_type == "scalar":
        samples.append(("scalar", _number(raw[1] if isinstance(raw, list) and len(raw) > 1 else None)))
    elif result_type == "matrix":
        return Outcome(
            Status.ERROR,
            "the query returns a range vector (it has a [range] selector): use an instant query,"
            " e.g. wrap it in rate(...) or last_over_time(...)",
            values,
        )
    else:
        return Outcome(Status.ERROR, f"the query returns a {result_type}, not numbers", values)
    values["series"] = len(samples)
    finite = [v for _, v in samples if not math.isnan(v)]
    if finite:
        values["min"], values["max"] = min(finite), max(finite)
    if len(samples) == 1:
        values["value"] = samples[0][1] if not math.isnan(samples[0][1]) else "NaN"
    for name, value in samples[:50]:
        emit(f"{name} = {_show(value)}")
    if len(samples) > 50:
        emit(f"... {len(samples) - 50} more series")
    if expect.get("empty") is True:
        if samples:
            return Outcome(Status.FAILED, f"expected no series, got {len(samples)}: {_list(samples)}", values)
        return None
    if not samples:
        if expect.get("nonempty", True) is False:
            return None
        return Outcome(Status.FAILED, f"query {one_line(query, 120)!r} returned no series", values)
    failing: list[tuple[str, float, str]] = []
    for name, value in samples:
        for op, threshold in _thresholds(expect):
            if math.isnan(value) or not compare(value, op, threshold):
                failing.append((name, value, f"{op} {fmt_number(threshold)}"))
                break
    if failing:
        values["failing_series"] = len(failing)
        shown = [
            f"{name} is {_show(value)}, expected {cond}"
            for name, value, cond in failing[:MAX_SERIES_IN_REASON]
        ]
        more = len(failing) - MAX_SERIES_IN_REASON
        tail = f" (and {more} more of {len(samples)} series)" if more > 0 else ""
        return Outcome(Status.FAILED, "; ".join(shown) + tail, values)
    return None


def _judge_rules(data: Any, values: dict[str, Scalar], emit: Callable[[str], None]) -> Outcome | None:
    """At least one alerting rule loaded, and no rule whose evaluation fails."""
    groups = data.get("groups", []) if isinstance(data, dict) else []
    alerting = recording = 0
    broken: list[str] = []
    for group in groups:
        for rule in group.get("rules", []):
            if rule.get("type") == "alerting":
                alerting += 1
            else:
                recording += 1
            if rule.get("health") == "err":
                broken.append(f"{rule.get('name')}: {one_line(str(rule.get('lastError', '')), 120)}")
        emit(f"rule group {group.get('name')!r}: {len(group.get('rules', []))} rule(s)")
    values["rule_groups"], values["alerting_rules"], values["recording_rules"] = (
        len(groups),
        alerting,
        recording,
    )
    if broken:
        values["failing_rules"] = len(broken)
        return Outcome(
            Status.FAILED, f"{len(broken)} rule(s) failing to evaluate: {'; '.join(broken[:3])}", values
        )
    if alerting == 0:
        return Outcome(
            Status.FAILED,
            f"no alerting rules loaded ({len(groups)} group(s), {recording} recording rule(s))",
            values,
        )
    return None


def _thresholds(expect: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(op, threshold) pairs every sample must meet; ValueError with a readable message."""
    out: list[tuple[str, float]] = []
    if "op" in expect or "value" in expect:
        op = str(expect.get("op", "=="))
        if op not in OPS:
            raise ValueError(f"expect.op {op!r} is not one of {', '.join(OPS)}")
        if "value" not in expect:
            raise ValueError('expect.op needs expect.value, like op = ">", value = 0.999')
        out.append((op, _threshold("value", expect["value"])))
    if "min" in expect:
        out.append((">=", _threshold("min", expect["min"])))
    if "max" in expect:
        out.append(("<=", _threshold("max", expect["max"])))
    for key in ("nonempty", "empty"):
        if key in expect and not isinstance(expect[key], bool):
            raise ValueError(f"expect.{key} must be true or false")
    return out


def _threshold(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expect.{key} must be a number, got {value!r}")
    return float(value)


def _series_name(metric: Mapping[str, str]) -> str:
    """`name{label="value",...}` as Prometheus prints a series."""
    name = metric.get("__name__", "")
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{labels}}}" if labels or not name else name


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _show(value: float) -> str:
    return "NaN" if math.isnan(value) else fmt_number(value)


def _list(samples: list[tuple[str, float]]) -> str:
    shown = ", ".join(f"{name} = {_show(v)}" for name, v in samples[:MAX_SERIES_IN_REASON])
    more = len(samples) - MAX_SERIES_IN_REASON
    return shown + (f" (and {more} more)" if more > 0 else "")


def _range(values: Mapping[str, Scalar]) -> str:
    value = values.get("value")
    if isinstance(value, float):
        return f", value {fmt_number(value)}"
    if value is not None:
        return f", value {value}"
    if "min" in values:
        return f", values {fmt_number(float(values['min']))}..{fmt_number(float(values['max']))}"
    return ""


def _http(response: Answer) -> str:
    return f"HTTP {response.status}" + (f" {response.reason_phrase}" if response.reason_phrase else "")


def _target(url: str) -> str:
    """host:port for reasons, never credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname or '?'}:{port}"
    except ValueError:
        return "<unparsable URL>"
