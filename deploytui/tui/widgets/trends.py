"""Pictures in the detail pane, under the selected item's text: where people would rather look than read.

- Durations: a `Sparkline` of the selected check's duration across its runs in this session (every run
  that ended with a verdict, as the session's state holds them when the item is drawn).
- Latency distribution of a `samples` http check: a histogram of its requests' latencies (a `Sparkline`
  of counts per bin), with p50 (▲) and p95 (△) marked under it.
- A Prometheus threshold check: its query's series over the TREND_WINDOW before its last run, fetched
  with `query_range` (services.trends / the prometheus kind), drawn with the threshold line (╌).

The data comes from the session and services; the range query runs in a worker that posts a message
to this widget, whose handler stores the data and redraws. Workers never touch widgets.
`show_for` is called on every redraw of the detail pane: it only updates what changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Sparkline, Static

from deploytui.core.durations import format_duration, format_took
from deploytui.core.session import ItemState
from deploytui.core.session.items import RUN_VERDICTS, CheckResult
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Status
from deploytui.services import trends

if TYPE_CHECKING:
    from deploytui.tui.app import DeployApp

BINS = 40
"""Columns of the latency histogram (one bin each) and of the durations sparkline."""

CHART_ROWS = 4
"""Rows of a Prometheus series chart."""

SERIES_SHOWN = 2
"""Series of a range query drawn (the rest are counted)."""

BLOCKS = " ▁▂▃▄▅▆▇█"
"""Eighths of a cell, for the series chart's bars."""

VERDICTS = RUN_VERDICTS
"""Results whose duration is the check's own (not a blocked or interrupted run's)."""


def _parse(iso: str) -> datetime | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")) if iso else None
    except ValueError:
        return None


def histogram(values: Sequence[float], bins: int = BINS) -> tuple[list[float], float, float]:
    """Counts per bin over [min, max] of `values`, and that range."""
    lo, hi = min(values), max(values)
    width = (hi - lo) / bins or 1.0
    counts = [0.0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    return counts, lo, hi


def bin_of(value: float, lo: float, hi: float, bins: int = BINS) -> int:
    width = (hi - lo) / bins or 1.0
    return max(0, min(bins - 1, int((value - lo) / width)))


def series_chart(
    points: Sequence[float], thresholds: Sequence[tuple[str, float]], rows: int = CHART_ROWS
) -> list[Text]:
    """A bar chart of `points` (NaN: a gap), `rows` high, with each threshold drawn as a ╌ line at its
    level; the lines, top first."""
    finite = [p for p in points if not math.isnan(p)]
    levels = [t for _op, t in thresholds]
    lo = min([*finite, *levels]) if finite or levels else 0.0
    hi = max([*finite, *levels]) if finite or levels else 1.0
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    span = hi - lo
    eighths = [None if math.isnan(p) else round((p - lo) / span * rows * 8) for p in points]
    marks = {min(rows - 1, int((t - lo) / span * rows)) for t in levels}
    lines = []
    for r in reversed(range(rows)):
        line = Text()
        for e in eighths:
            fill = 0 if e is None else max(0, min(8, e - r * 8))
            if fill == 0 and r in marks:
                line.append("╌", Style(color="red", bold=True))
            else:
                line.append(BLOCKS[fill], Style(color="cyan"))
        lines.append(line)
    return lines


def _number(value: float) -> str:
    return f"{value:.4g}"


class TrendsView(Vertical):
    """The pictures of the selected item's check (hidden when there is nothing to draw)."""

    DEFAULT_CSS = """
    TrendsView { height: auto; display: none; padding: 1 0 0 0; }
    TrendsView.-shown { display: block; }
    TrendsView > Static { height: auto; }
    TrendsView > Sparkline { height: 2; width: 1fr; max-width: 40; margin: 0 0 0 2; }
    TrendsView > .-hidden { display: none; }
    """

    class SeriesFetched(Message):
        """A threshold check's series over the window ending `stamp` (posted by a worker)."""

        def __init__(self, key: str, stamp: str, result: trends.RangeResult) -> None:
            super().__init__()
            self.key = key
            self.stamp = stamp
            self.result = result

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.series: dict[tuple[str, str], trends.RangeResult] = {}
        """(check key, window end) -> the range query's answer."""
        self._asked: set[tuple[str, str]] = set()
        self._shown: tuple[object, ...] | None = None
        self._current: tuple[str | None, ItemState | None, tuple[CheckSpec, ...]] = (None, None, ())

    @property
    def deploy_app(self) -> DeployApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        # Nothing until there is something to draw (`_parts`): hidden at start, the six parts were a
        # quarter of the main screen's widgets to compose and style before its first frame.
        return iter(())

    def _parts(self) -> None:
        """Mount the pictures' widgets the first time they are shown."""
        if self.children:
            return
        self.mount(
            Static(id="trend-durations-title"),
            Sparkline([], id="trend-durations"),
            Static(id="trend-latency-title"),
            Sparkline([], id="trend-latency"),
            Static(id="trend-latency-marks"),
            Static(id="trend-series"),
        )

    @work(exclusive=True, group="trend-series", exit_on_error=False)
    async def _fetch_series(self, spec: CheckSpec, stamp: str, end: datetime) -> None:
        result = await trends.prometheus_window(self.deploy_app.config, spec, end)
        self.post_message(self.SeriesFetched(spec.key, stamp, result))

    @on(SeriesFetched)
    def _series_fetched(self, message: SeriesFetched) -> None:
        self.series[(message.key, message.stamp)] = message.result
        self._redraw()

    # ---------------------------------------------------------------------------------- drawing

    def show_for(self, node_id: str, state: ItemState | None, specs: Sequence[CheckSpec]) -> None:
        """Draw the pictures of `node_id`'s check (its latest result's), or hide them."""
        self._current = (node_id, state, tuple(specs))
        self._redraw()

    @staticmethod
    def runs_of(state: ItemState | None, key: str) -> dict[str, int]:
        """{run id: duration ms} of every run of check `key` that ended with a verdict, oldest first, from
        the session's state as it is now: runs that ended while another node was selected count too."""
        if state is None:
            return {}
        runs = dict(state.run_durations.get(key, {}))
        latest = state.checks.get(key)
        if latest is not None and latest.run_id and Status(latest.status) in VERDICTS:
            runs.setdefault(latest.run_id, latest.duration_ms)  # a state read from its session file alone
        return runs

    def _chosen(self) -> tuple[CheckSpec, CheckResult | None] | None:
        _node, state, specs = self._current
        if not specs:
            return None
        results = state.checks if state is not None else {}
        ran = [s for s in specs if s.key in results and results[s.key].at]
        if not ran:
            return specs[0], None
        spec = max(ran, key=lambda s: results[s.key].at)
        return spec, results[spec.key]

    def _redraw(self) -> None:
        chosen = self._chosen()
        if chosen is None:
            self._set_shown(False)
            return
        spec, result = chosen
        runs = self.runs_of(self._current[1], spec.key)
        stamp = result.at if result is not None else ""
        samples = trends.sample_latencies(result.values) if result is not None else None
        threshold = trends.is_threshold_check(spec)
        series = self.series.get((spec.key, stamp)) if threshold else None
        signature = (spec.key, tuple(runs.items()), stamp, samples is not None, id(series))
        if threshold and (spec.key, stamp) not in self._asked:
            self._asked.add((spec.key, stamp))
            end = _parse(stamp) or self.deploy_app.clock()
            self._fetch_series(spec, stamp, end)
        if signature == self._shown:
            return
        self._shown = signature
        if not runs and samples is None and not threshold:
            self._set_shown(False)
            return
        self._parts()
        self._set_shown(True)
        self._draw_durations(spec, runs)
        self._draw_latencies(samples)
        self._draw_series(spec, threshold, series)

    def _set_shown(self, shown: bool) -> None:
        self.set_class(shown, "-shown")
        if not shown:
            self._shown = None

    def _part(self, selector: str, shown: bool) -> Any:
        widget = self.query_one(selector)
        widget.set_class(not shown, "-hidden")
        return widget

    def _draw_durations(self, spec: CheckSpec, runs: dict[str, int]) -> None:
        durations = list(runs.values())
        title = self._part("#trend-durations-title", True)
        line = self._part("#trend-durations", bool(durations))
        if not durations:
            title.update(Text(f"Durations of {spec.label}: no finished run yet", Style(dim=True)))
            return
        text = Text.assemble(("Durations", "bold"), f" of {spec.label} over {len(durations)} run(s)\n")
        text.append(  # a line of its own: a narrow pane wrapped it between a number and its unit
            f"last {format_took(durations[-1])} · min {format_took(min(durations))} · "
            f"max {format_took(max(durations))}",
            Style(dim=True),
        )
        title.update(text)
        line.data = [float(ms) for ms in durations]

    def _draw_latencies(self, samples: trends.LatencySamples | None) -> None:
        title = self._part("#trend-latency-title", samples is not None)
        spark = self._part("#trend-latency", samples is not None)
        marks = self._part("#trend-latency-marks", samples is not None)
        if samples is None:
            return
        counts, lo, hi = histogram(samples.latencies)
        title.update(
            Text.assemble(
                ("Latency", "bold"),
                f" of {len(samples.latencies)} requests, {_number(lo)}–{_number(hi)} ms (count per bin):",
            )
        )
        spark.data = counts
        row = [" "] * BINS
        p50, p95 = bin_of(samples.p50, lo, hi), bin_of(samples.p95, lo, hi)
        row[p95] = "△"
        row[p50] = "▲"
        line = Text("  " + "".join(row), Style(color="yellow", bold=True))
        line.append("\n  ")
        line.append("▲", Style(color="yellow", bold=True))
        line.append(f" p50 {_number(samples.p50)} ms   ")
        line.append("△", Style(color="yellow", bold=True))
        line.append(f" p95 {_number(samples.p95)} ms")
        marks.update(line)

    def _draw_series(self, spec: CheckSpec, threshold: bool, series: trends.RangeResult | None) -> None:
        widget = self._part("#trend-series", threshold)
        if not threshold:
            return
        window = format_duration(trends.TREND_WINDOW_SECONDS)
        head = Text.assemble(("Series", "bold"), f" of {spec.label} over the {window} before its last run")
        if series is None:
            widget.update(Group(head, Text("  fetching with query_range…", Style(dim=True))))
            return
        if series.error:
            widget.update(Group(head, Text(f"  {series.error}", Style(color="red"))))
            return
        limits = " and ".join(f"{op} {_number(v)}" for op, v in series.thresholds)
        parts: list[RenderableType] = [head]
        if not series.series:
            parts.append(Text("  no samples in the window", Style(dim=True)))
        for one in series.series[:SERIES_SHOWN]:
            values = [v for _t, v in one.points]
            finite = [v for v in values if not math.isnan(v)]
            label = Text(f"  {one.name}", Style(dim=True))
            if finite:
                label.append(f"  {_number(min(finite))}–{_number(max(finite))}, last {_number(finite[-1])}")
            parts.append(label)
            parts += [Text("  ") + line for line in series_chart(values[-BINS * 2 :], series.thresholds)]
        more = len(series.series) - SERIES_SHOWN + series.more
        if more > 0:
            parts.append(Text(f"  … and {more} more series", Style(dim=True)))
        legend = Text("  ")
        legend.append("╌", Style(color="red", bold=True))
        legend.append(f" threshold: every sample {limits}")
        parts.append(legend)
        widget.update(Group(*parts))
