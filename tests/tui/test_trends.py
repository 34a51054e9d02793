"""Pictures in the detail pane (tui/widgets/trends.py): a Sparkline of a check's durations across its runs
in the session, a samples check's latency distribution with p50/p95 marked, and a Prometheus threshold
check's series over a window (query_range against the real test Prometheus) with its threshold drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Sparkline, Static

from deploytui.core.session import RunFinished, RunStarted
from deploytui.core.status import Outcome
from deploytui.tui.widgets.trends import TrendsView
from tests.support.pilot_support import main_screen as main
from tests.support.pilot_support import select, settle, until
from tests.support.tui_support import build_app, write_project

SIZE = (120, 40)


pytestmark = pytest.mark.usefixtures("tui_home")


def _text(widget: Any) -> str:
    from io import StringIO

    from rich.console import Console

    console = Console(width=120, record=True, file=StringIO())
    console.print(widget.content)
    return console.export_text()


def _inject(app: Any, item: str, key: str, durations: list[int], **values: Any) -> None:
    """Finished runs through the session's change path, with the durations a test can predict."""
    for n, ms in enumerate(durations):
        outcome = Outcome.passed("ok", **values)
        outcome.duration_ms = ms
        app.live.apply(RunStarted(item, key, f"t{n}", kind="http"))
        app.live.apply(RunFinished(item, key, f"t{n}", outcome, kind="http"))


async def test_durations_sparkline_follows_every_run_of_the_selected_check(tmp_path: Path) -> None:
    app = build_app(tmp_path, config=write_project(tmp_path, quick=True), choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/tests-pass")
        trends = main(app).query_one(TrendsView)
        assert not trends.has_class("-shown")  # nothing ran: nothing to draw
        for _ in range(3):
            await pilot.press("r")
            await settle(pilot)
        runs = [r for r in app.live.session.items["preflight/tests-pass"].checks.values()]
        assert len(runs) == 1
        spark = trends.query_one("#trend-durations", Sparkline)
        assert trends.has_class("-shown") and spark.data is not None and len(spark.data) == 3
        assert spark.data[-1] == float(runs[0].duration_ms)
        assert "over 3 run(s)" in _text(trends.query_one("#trend-durations-title", Static))


async def test_a_reopened_session_draws_the_runs_of_its_event_log(tmp_path: Path) -> None:
    config = write_project(tmp_path, quick=True)
    app = build_app(tmp_path, config=config, choice="new", new_session_id="20261125T021437Z-tr01")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        _inject(app, "preflight/tests-pass", "preflight/tests-pass#0", [400, 900, 250])
    again = build_app(tmp_path, config=config, session_id="20261125T021437Z-tr01")
    async with again.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/tests-pass")
        await settle(pilot)
        spark = main(again).query_one("#trend-durations", Sparkline)
        assert list(spark.data or []) == [400.0, 900.0, 250.0]


SAMPLES = """
[[check]]
item = "preflight/notify-team"
kind = "http"
name = "latency"
url = "{url}/api/v1/health"
samples = 20
"""


async def test_samples_check_draws_its_latency_distribution_with_p50_and_p95(
    tmp_path: Path, target_app: Any
) -> None:
    config = write_project(tmp_path, quick=True, extra=SAMPLES.format(url=target_app.url))
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/notify-team")
        await pilot.press("r")
        await settle(pilot)
        result = next(iter(app.live.session.items["preflight/notify-team"].checks.values()))
        latencies = [float(v) for v in str(result.values["latencies_ms"]).split()]
        assert len(latencies) == 20
        trends = main(app).query_one(TrendsView)
        spark = trends.query_one("#trend-latency", Sparkline)
        assert sum(spark.data or []) == 20  # every request in one bin of the histogram
        marks = _text(trends.query_one("#trend-latency-marks", Static))
        assert "▲" in marks and "△" in marks
        assert f"p50 {result.values['p50_ms']}" in marks.replace(".0 ms", " ms") or "p50 " in marks


PROMETHEUS = """
[[check]]
item = "deploy/push-image"
kind = "prometheus"
name = "app up"
url = "{url}"
query = 'up{{job="app"}}'
expect = {{ min = 1 }}
"""


async def test_prometheus_threshold_check_draws_its_series_over_the_window_with_the_threshold(
    tmp_path: Path, prometheus_server: Any
) -> None:
    config = write_project(tmp_path, quick=True, extra=PROMETHEUS.format(url=prometheus_server.url))
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "deploy/push-image")
        await pilot.press("r")
        await settle(pilot)
        trends = main(app).query_one(TrendsView)
        ran = next(iter(app.live.session.items["deploy/push-image"].checks.values()))
        key = (ran.key, ran.at)  # the window ends at the check's run
        await until(pilot, lambda: key in trends.series, "the range query's answer")
        result = trends.series[key]
        assert result.error == "" and result.thresholds == [(">=", 1.0)]
        assert any(
            'job="app"' in s.name and s.points and all(v == 1 for _t, v in s.points) for s in result.series
        )
        chart = _text(trends.query_one("#trend-series", Static))
        assert 'job="app"' in chart and "threshold: every sample >= 1" in chart and "█" in chart
