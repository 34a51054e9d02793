"""Docker: the daemon answers; named or labelled containers run (and are healthy where a health check
exists); their logs since the session started hold no line matching a pattern; memory and CPU stay
under thresholds; an image is present. Uses the docker SDK (blocking: run in a worker thread).

    [[check]]
    item = "deployment-steps/3-health-checks/logs-show-no-errors"
    kind = "docker"
    containers = ["rag-chatbot-backend"]          # and/or labels = { "com.docker.compose.project" = "rag" }
    logs_absent = "ERROR|Traceback"               # a regex; lines since the session started
    # logs_since = "15m"                          # instead of the session start
    max_memory_mb = 1024                          # or a condition: "< 800"; also allowed inside expect
    max_cpu_percent = 80                          # 100 = one core busy
    max_memory_growth_mb = 50                     # between two samples `sample_interval` apart
    sample_interval = "2s"
    # stats = true                                # sample and report memory/CPU without thresholds
    # image = "rag-chatbot:latest"                # must be present on the daemon
    # base_url = "unix:///var/run/docker.sock"    # default: DOCKER_HOST (+ DOCKER_TLS_VERIFY/CERT_PATH)

Reasons: daemon unreachable, image not present, container missing, not running (status, exit code),
unhealthy (last health output), pattern found (count + first match), over threshold, timed out.
Values: docker_version, api_version, containers, log_matches, memory_mb, cpu_percent, memory_growth_mb.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from deploytui.checks.base import CheckKind, own_deadline, type_problems
from deploytui.checks.expect import (
    Stopwatch,
    condition_reason,
    exception_chain,
    exception_reason,
    fmt_number,
    network_reason,
    parse_condition,
)
from deploytui.core.durations import MAX_AGE, MAX_DURATION, format_duration, parse_duration
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Scalar, Status
from deploytui.core.text import excerpt, one_line

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
"""Where the daemon is looked for when neither base_url nor DOCKER_HOST says otherwise."""

DEFAULT_SAMPLE_INTERVAL = 1.0
"""Seconds between the two stats samples (CPU needs two; memory growth is measured across them)."""

THRESHOLDS = {
    "max_memory_mb": ("memory_mb", "memory"),
    "max_cpu_percent": ("cpu_percent", "CPU"),
    "max_memory_growth_mb": ("memory_growth_mb", "memory growth"),
}
"""Threshold field -> (measured value name, words for the reason)."""

MAX_REPORTED_MATCHES = 20
"""Matching log lines shown in the output and evidence (all are counted)."""

MAX_LOG_LINE_BYTES = 64 * 1024
"""A log 'line' without a newline for this long is treated as one line (a binary blob cannot grow memory)."""

MAX_FAILURES_IN_REASON = 3
"""Problems spelled out in a failed reason; the rest are counted."""

MB = 1024 * 1024


def _threshold_condition(name: str, raw: Any) -> str:
    """A threshold as a condition for expect.condition_reason: a number means "<= n"."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f'{name} must be a number or a condition like "< 512", got {raw!r}')
    if isinstance(raw, (int, float)):
        if raw < 0:
            raise ValueError(f"{name} cannot be negative: {raw!r}")
        return f"<= {raw}"
    op, number = parse_condition(raw)
    return f"{op} {number}"


@dataclass
class Settings:
    """A binding's parameters, substituted and validated."""

    base_url: str | None
    """From the binding; None: DOCKER_HOST (+ DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) from `env`."""
    shown_url: str
    env: dict[str, str]
    names: list[str]
    labels: dict[str, str]
    pattern: re.Pattern[str] | None
    since: datetime | None
    image: str | None
    thresholds: dict[str, str]
    stats: bool
    sample_interval: float
    timeout: float
    """The check's own budget in seconds (within the engine's)."""
    deadline: float = 0.0
    """time.monotonic() when the budget runs out (set when the run starts)."""


@dataclass
class Probe:
    """The blocking work, run in a worker thread; `step` says what it is doing (for timeout reasons)."""

    settings: Settings
    emit: Any
    redact: Any
    cancelled: threading.Event = field(default_factory=threading.Event)
    step: str = "connect"
    values: dict[str, Scalar] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def run(self) -> Outcome:
        import docker
        from docker.errors import DockerException
        from docker.utils import kwargs_from_env

        s = self.settings
        timeout = _client_timeout(s.deadline - time.monotonic())
        try:
            if s.base_url is not None:
                client = docker.DockerClient(base_url=s.base_url, timeout=timeout)
            else:
                options = kwargs_from_env(environment=s.env)
                options.setdefault("base_url", DEFAULT_SOCKET)
                client = docker.DockerClient(timeout=timeout, **options)
        except DockerException as exc:
            return self.unreachable(exc)
        try:
            return self.checks(client)
        finally:
            client.close()

    def unreachable(self, exc: BaseException) -> Outcome:
        if _is_timeout(exc):
            return self.timed_out()
        url = self.settings.shown_url
        reason = network_reason(exc, url)
        if reason is None:
            reason = f"{url}: {self.redact(one_line(_unwrap_message(exc), 200))}"
        return Outcome(Status.FAILED, f"Docker daemon unreachable: {reason}", self.values)

    def timed_out(self) -> Outcome:
        return Outcome(
            Status.FAILED,
            f"Docker daemon at {self.settings.shown_url} did not answer within"
            f" {format_duration(self.settings.timeout)} (trying to {self.step})",
            self.values,
        )

    def checks(self, client: Any) -> Outcome:
        from docker.errors import APIError, DockerException, ImageNotFound, NotFound
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import RequestException

        s = self.settings
        try:
            self.step = "ping the daemon"
            with Stopwatch() as sw:
                client.ping()
                version = client.version()
            self.values["docker_version"] = str(version.get("Version", "?"))
            self.values["api_version"] = str(version.get("ApiVersion", "?"))
            self.values["latency_ms"] = sw.ms
            self.emit(
                f"daemon {s.shown_url}: {version.get('Platform', {}).get('Name') or 'Docker'}"
                f" {self.values['docker_version']} (API {self.values['api_version']}) in {sw.ms} ms"
            )

            if s.image:
                self.step = f"look up image {s.image}"
                try:
                    image = client.images.get(s.image)
                    self.values["image_id"] = str(image.short_id)
                    self.emit(f"image {s.image}: {image.short_id}")
                except ImageNotFound:
                    self.problems.append(f"image {s.image} not present")
                    self.emit(f"image {s.image}: not present")

            containers = self.targets(client, NotFound)
            for container in containers:
                self.inspect(container)
            running = [c for c in containers if c.attrs.get("State", {}).get("Status") == "running"]
            if s.pattern is not None:
                for container in containers:
                    self.scan_logs(container)
            if s.stats or s.thresholds:
                self.sample_stats(running)
        except (RequestsConnectionError, DockerException) as exc:
            if isinstance(exc, APIError) and exc.response is not None and not _is_timeout(exc):
                detail = self.redact(one_line(str(exc.explanation or exc), 200))
                return Outcome(
                    Status.FAILED, f"Docker API error trying to {self.step}: {detail}", self.values
                )
            return self.unreachable(exc)
        except RequestException as exc:
            return self.unreachable(exc)

        if self.cancelled.is_set():
            return self.timed_out()
        evidence = excerpt(self.evidence) if self.evidence else ""
        if self.problems:
            shown = self.problems[:MAX_FAILURES_IN_REASON]
            more = len(self.problems) - len(shown)
            reason = "; ".join(shown) + (f"; and {more} more" if more else "")
            return Outcome(Status.FAILED, self.redact(reason), self.values, self.redact(evidence))
        return Outcome(
            Status.PASSED, self.redact(self.summary(containers)), self.values, self.redact(evidence)
        )

    def targets(self, client: Any, not_found: type[Exception]) -> list[Any]:
        """The containers named and those matching the labels (each once)."""
        s = self.settings
        found: dict[str, Any] = {}
        for name in s.names:
            self.step = f"find container {name}"
            try:
                container = client.containers.get(name)
            except not_found:
                self.problems.append(f"container {name} missing")
                self.emit(f"container {name}: missing")
                continue
            found[container.id] = container
        if s.labels:
            self.step = "list containers by label"
            selector = [f"{k}={v}" if v != "" else k for k, v in s.labels.items()]
            matched = client.containers.list(all=True, filters={"label": selector})
            if not matched:
                self.problems.append(f"no container with labels {', '.join(selector)}")
                self.emit(f"labels {', '.join(selector)}: no container")
            for container in matched:
                found.setdefault(container.id, container)
        self.values["containers"] = len(found)
        return list(found.values())

    def inspect(self, container: Any) -> None:
        state = container.attrs.get("State", {}) or {}
        name = container.name
        status = str(state.get("Status") or container.status or "unknown")
        health = (state.get("Health") or {}).get("Status") or ""
        restarts = container.attrs.get("RestartCount")
        line = f"container {name}: {status}" + (f", health {health}" if health else "")
        if status != "running":
            detail = status
            if status in ("exited", "dead"):
                detail += f", exit code {state.get('ExitCode', '?')}"
                if state.get("OOMKilled"):
                    detail += ", OOM-killed"
            if restarts:
                detail += f", {restarts} restarts"
            self.problems.append(f"container {name} not running ({detail})")
        elif health and health != "healthy":
            logs = (state.get("Health") or {}).get("Log") or []
            last = one_line(str(logs[-1].get("Output") or ""), 120) if logs else ""
            state_text = "unhealthy" if health == "unhealthy" else f"not healthy (health {health})"
            self.problems.append(f"container {name} {state_text}" + (f": {last}" if last else ""))
            if last:
                line += f" (last check: {last})"
        self.emit(line)

    def scan_logs(self, container: Any) -> None:
        s = self.settings
        assert s.pattern is not None
        name = container.name
        self.step = f"read the logs of {name}"
        since = s.since.timestamp() if s.since else None
        stream = container.logs(stream=True, follow=False, stdout=True, stderr=True, since=since)
        count = 0
        first = ""
        try:
            for line in _lines(stream, self.cancelled):
                if s.pattern.search(line):
                    count += 1
                    if count == 1:
                        first = line
                    if count <= MAX_REPORTED_MATCHES:
                        self.emit(f"{name}: {line}")
                        self.evidence.append(f"{name}: {line}")
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        self.values["log_matches"] = int(self.values.get("log_matches", 0)) + count
        window = f"since {s.since.strftime('%Y-%m-%d %H:%M:%S')}Z" if s.since else "in all its logs"
        if count:
            times = "1 line" if count == 1 else f"{count} lines"
            self.problems.append(
                f"/{s.pattern.pattern}/ found in {times} of {name} {window}: {one_line(first, 160)}"
            )
        else:
            self.emit(f"{name}: no line matches /{s.pattern.pattern}/ {window}")

    def sample_stats(self, containers: list[Any]) -> None:
        s = self.settings
        if not containers:
            return
        self.step = "sample container stats"
        first = {c.id: (time.monotonic(), c.stats(stream=False, one_shot=True)) for c in containers}
        if self.cancelled.wait(s.sample_interval):
            return
        worst: dict[str, float] = {}
        for container in containers:
            t1, one = first[container.id]
            t2, two = time.monotonic(), container.stats(stream=False, one_shot=True)
            memory = _memory_bytes(two) / MB
            growth = (_memory_bytes(two) - _memory_bytes(one)) / MB
            cpu = _cpu_percent(one, two, t2 - t1)
            self.emit(
                f"{container.name}: memory {memory:.1f} MB (growth {growth:+.1f} MB over"
                f" {format_duration(t2 - t1)}), CPU {cpu:.1f}%"
            )
            for key, value in (("memory_mb", memory), ("memory_growth_mb", growth), ("cpu_percent", cpu)):
                worst[key] = max(worst.get(key, value), value)
            for field_name, (value_name, words) in THRESHOLDS.items():
                cond = s.thresholds.get(field_name)
                if cond is None:
                    continue
                measured = {"memory_mb": memory, "memory_growth_mb": growth, "cpu_percent": cpu}[value_name]
                problem = condition_reason(f"{container.name} {words}", round(measured, 1), cond)
                if problem is not None:
                    unit = "%" if value_name == "cpu_percent" else " MB"
                    self.problems.append(f"{problem}{unit} (over threshold)")
        for key, value in worst.items():
            self.values[key] = round(value, 1)

    def summary(self, containers: list[Any]) -> str:
        s = self.settings
        parts: list[str] = []
        if containers:
            healthy = [
                c
                for c in containers
                if ((c.attrs.get("State", {}).get("Health") or {}).get("Status") == "healthy")
            ]
            text = f"{len(containers)} container{'s' if len(containers) != 1 else ''} running"
            if healthy:
                text += f" ({len(healthy)} healthy)"
            parts.append(text)
        else:
            parts.append(f"daemon reachable ({self.values.get('docker_version', '?')})")
        if s.image:
            parts.append(f"image {s.image} present")
        if s.pattern is not None:
            parts.append(f"no /{s.pattern.pattern}/ in logs")
        if "memory_mb" in self.values:
            parts.append(
                f"memory {fmt_number(float(self.values['memory_mb']))} MB,"
                f" CPU {fmt_number(float(self.values['cpu_percent']))}%"
            )
        return ", ".join(parts)


class Kind(CheckKind):
    name = "docker"
    clients: ClassVar[tuple[str, ...]] = ("docker",)
    summary = (
        "Docker daemon reachable; containers running and healthy; no error lines in logs; resources in bounds"
    )
    fields: ClassVar[frozenset[str]] = frozenset(
        {"base_url", "containers", "labels", "logs_absent", "logs_since", "image", "stats", "sample_interval"}
        | set(THRESHOLDS)
    )
    expect_fields: ClassVar[frozenset[str]] = frozenset(THRESHOLDS)

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        names = params.get("containers")
        if names is not None and (
            not isinstance(names, list) or not all(isinstance(n, str) and n for n in names)
        ):
            problems.append('containers must be a list of names, like containers = ["rag-chatbot-backend"]')
        labels = params.get("labels")
        if labels is not None and (
            not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values())
        ):
            problems.append('labels must be a table of strings, like labels = { app = "rag-chatbot" }')
        pattern = params.get("logs_absent")
        if pattern is not None:
            if not isinstance(pattern, str) or not pattern:
                problems.append("logs_absent must be a regular expression")
            elif "${" not in pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append(f"logs_absent is not a valid regular expression: {exc}")
            if names is None and labels is None:
                problems.append("logs_absent needs containers or labels to read logs from")
        for key, limit in (("logs_since", MAX_AGE), ("sample_interval", MAX_DURATION)):
            if key in params:
                try:
                    parse_duration(params[key], limit)
                except ValueError as exc:
                    problems.append(f"{key}: {exc}")
        problems += type_problems(params, strings=("base_url", "image"), booleans=("stats",))
        expect = params.get("expect")
        for key in THRESHOLDS:
            for source in (params, expect if isinstance(expect, Mapping) else {}):
                if key in source and not (isinstance(source[key], str) and "${" in source[key]):
                    try:
                        _threshold_condition(key, source[key])
                    except ValueError as exc:
                        problems.append(str(exc))
                    if names is None and labels is None:
                        problems.append(f"{key} needs containers or labels to sample")
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        what = []
        if spec.params.get("containers"):
            what.append("containers " + ", ".join(ctx.param(spec, "containers")))
        if spec.params.get("labels"):
            what.append("labels " + ", ".join(f"{k}={v}" for k, v in ctx.param(spec, "labels").items()))
        if spec.params.get("logs_absent"):
            what.append(f"logs without /{ctx.param(spec, 'logs_absent')}/")
        return "docker " + ("; ".join(what) if what else "daemon reachable")

    def settings(self, spec: CheckSpec, ctx: CheckContext) -> Settings:
        """Substituted, validated parameters; ValueError with a readable message."""
        problems = self.validate(spec.params)
        if problems:
            raise ValueError(problems[0])
        base_url = ctx.param(spec, "base_url") or None
        shown = str(base_url or ctx.env.get("DOCKER_HOST") or DEFAULT_SOCKET)
        _check_daemon_url(shown, "base_url" if base_url else "DOCKER_HOST")
        pattern_text = ctx.param(spec, "logs_absent")
        try:
            pattern = re.compile(pattern_text) if pattern_text else None
        except re.error as exc:
            raise ValueError(f"logs_absent is not a valid regular expression: {exc}") from None
        since: datetime | None = None
        if "logs_since" in spec.params:
            look_back = parse_duration(ctx.param(spec, "logs_since"), MAX_AGE)
            since = datetime.now(UTC) - timedelta(seconds=look_back)
        elif ctx.session_started is not None:
            started = ctx.session_started
            since = started if started.tzinfo else started.replace(tzinfo=UTC)
            since = since.astimezone(UTC)
        thresholds: dict[str, str] = {}
        for key in THRESHOLDS:
            raw = ctx.param(spec, key) if key in spec.params else spec.expect.get(key)
            if raw is not None:
                thresholds[key] = _threshold_condition(key, ctx.substitute(raw))
        interval = parse_duration(ctx.param(spec, "sample_interval", DEFAULT_SAMPLE_INTERVAL))
        labels = {str(k): str(v) for k, v in (ctx.param(spec, "labels") or {}).items()}
        return Settings(
            base_url=base_url,
            shown_url=shown,
            env=dict(ctx.env),
            names=[str(n) for n in ctx.param(spec, "containers") or []],
            labels=labels,
            pattern=pattern,
            since=since,
            image=ctx.param(spec, "image") or None,
            thresholds=thresholds,
            stats=ctx.param(spec, "stats", False) is True,
            sample_interval=interval,
            timeout=own_deadline(ctx.timeout),
        )

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        try:
            settings = self.settings(spec, ctx)
        except ValueError as exc:
            return Outcome.error(str(exc))
        if settings.thresholds or settings.stats:
            if settings.sample_interval >= settings.timeout:
                return Outcome.error(
                    f"sample_interval {format_duration(settings.sample_interval)} does not fit in the"
                    f" check's timeout {format_duration(ctx.timeout)}: raise timeout or lower sample_interval"
                )
        loop = asyncio.get_running_loop()

        def emit(line: str) -> None:
            # Called from the worker thread: hand the line to the event loop that owns ctx.emit.
            try:
                loop.call_soon_threadsafe(ctx.emit, ctx.redactor.redact(line))
            except RuntimeError:  # the loop closed while an abandoned probe was finishing
                pass

        settings.deadline = time.monotonic() + settings.timeout
        probe = Probe(settings, emit, ctx.redactor.redact)
        try:
            async with asyncio.timeout(settings.timeout):
                return await asyncio.to_thread(probe.run)
        except TimeoutError:
            return probe.timed_out()
        finally:
            # Whatever ended the wait (timeout, cancellation), the thread stops at its next step.
            probe.cancelled.set()


DAEMON_SCHEMES = frozenset({"unix", "tcp", "http", "https", "ssh", "npipe"})
"""URL schemes the docker SDK can reach a daemon with."""


def _check_daemon_url(url: str, source: str) -> None:
    """ValueError naming `source` when `url` cannot address a Docker daemon."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"{source} {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in DAEMON_SCHEMES:
        raise ValueError(f"{source} {url!r} must start with one of {', '.join(sorted(DAEMON_SCHEMES))}://")


def _client_timeout(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def _lines(stream: Iterator[bytes], cancelled: threading.Event) -> Iterator[str]:
    """Decoded lines of a log stream, a partial line kept until its end arrives."""
    pending = b""
    for chunk in stream:
        if cancelled.is_set():
            return
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            yield raw.rstrip(b"\r").decode("utf-8", "replace")
        while len(pending) > MAX_LOG_LINE_BYTES:
            yield pending[:MAX_LOG_LINE_BYTES].decode("utf-8", "replace")
            pending = pending[MAX_LOG_LINE_BYTES:]
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


def _memory_bytes(stats: Mapping[str, Any]) -> float:
    """Memory in use as `docker stats` shows it: usage minus the inactive page cache."""
    memory = stats.get("memory_stats") or {}
    usage = float(memory.get("usage") or 0)
    detail = memory.get("stats") or {}
    for key in ("inactive_file", "total_inactive_file"):  # cgroup v2, cgroup v1
        if key in detail and detail[key] < usage:
            return usage - float(detail[key])
    return usage


def _cpu_percent(one: Mapping[str, Any], two: Mapping[str, Any], wall_seconds: float) -> float:
    """CPU between two samples, as `docker stats` computes it (100 = one core fully busy)."""
    cpu1, cpu2 = one.get("cpu_stats") or {}, two.get("cpu_stats") or {}
    used = float((cpu2.get("cpu_usage") or {}).get("total_usage") or 0) - float(
        (cpu1.get("cpu_usage") or {}).get("total_usage") or 0
    )
    system = float(cpu2.get("system_cpu_usage") or 0) - float(cpu1.get("system_cpu_usage") or 0)
    cpus = cpu2.get("online_cpus") or len((cpu2.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    if used <= 0:
        return 0.0
    if system > 0:
        return used / system * cpus * 100.0
    # No host counter (some daemons on Windows/macOS): relative to wall time, in nanoseconds.
    return used / (wall_seconds * 1e9) * 100.0 if wall_seconds > 0 else 0.0


def _is_timeout(exc: BaseException) -> bool:
    from requests.exceptions import Timeout

    return any(
        isinstance(e, (Timeout, TimeoutError)) or "timed out" in str(e).lower() for e in exception_chain(exc)
    )


def _unwrap_message(exc: BaseException) -> str:
    """The innermost useful message of a wrapped requests/urllib3 error."""
    innermost = exception_chain(exc)[-1]
    return str(innermost) or str(exc) or exception_reason(exc)
