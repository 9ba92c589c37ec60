"""What an invoke asks of the screen's layout. A layout of the whole debugger screen costs ~10-25 ms; a bar whose
height does not change must not ask for one: the explain bar keeps two rows whether an invoke runs (one row of
text) or is over (two), and the log's line count, rewritten at every snapshot of a burst, never changes its size.

Snapshots come from real runs (snapshots.py), moved to a state with `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses

import pytest
from _host import Host
from textual.widget import Widget

from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import FUNCTION, read_lines
from lambdatui.ui.widgets.explain_bar import ExplainBar
from lambdatui.ui.widgets.log_view import LogView

pytestmark = pytest.mark.anyio


def in_state(snapshot: DebuggerSnapshot, state: EnvState) -> DebuggerSnapshot:
    env = dataclasses.replace(snapshot.environment, state=state, held_at=None)
    return dataclasses.replace(snapshot, environment=env)


def layouts_asked(widget: Widget) -> list[bool]:
    """Every refresh the widget asks for from now on: whether it asked for a layout."""
    asked: list[bool] = []
    refresh = widget.refresh

    def recorded(*args: object, layout: bool = False, **kwargs: object) -> Widget:
        asked.append(layout)
        return refresh(*args, layout=layout, **kwargs)  # type: ignore[arg-type]

    widget.refresh = recorded  # type: ignore[method-assign]
    return asked


async def test_the_explain_bar_keeps_its_height_as_an_invoke_starts_and_ends(warm_snapshot: DebuggerSnapshot) -> None:
    bar = ExplainBar()
    async with Host(bar).run_test(size=(140, 30)) as pilot:  # the frozen sentence: two rows at 140
        bar.show(in_state(warm_snapshot, EnvState.FROZEN))
        await pilot.pause()
        frozen_text, frozen_height = bar.text, bar.size.height
        asked = layouts_asked(bar)
        bar.show(in_state(warm_snapshot, EnvState.RUNNING))
        await pilot.pause()
        running_text, running_height = bar.text, bar.size.height
        bar.show(in_state(warm_snapshot, EnvState.FROZEN))
        await pilot.pause()
    assert frozen_text != running_text  # the bar did change what it says, twice
    assert frozen_height == running_height == 2
    assert asked and not any(asked), asked  # repainted, never laid out


async def test_the_log_count_is_rewritten_without_a_layout() -> None:
    log = LogView(max_lines=5000)
    async with Host(log).run_test(size=(100, 30)) as pilot:
        count = log.query_one("#log-count")
        log.add_lines(list(read_lines(FUNCTION, ["first"], None, "stdout")))
        await pilot.pause()
        asked = layouts_asked(count)
        for burst in range(3):
            log.add_lines(list(read_lines(FUNCTION, [f"line {burst} {i}" for i in range(2000)], None, "stdout")))
            await pilot.pause()
        said = str(count.render())
    assert "6,001 lines" in said or "5,000 lines" in said, said
    assert asked and not any(asked), asked


async def test_rows_rebuilt_in_the_same_number_are_repainted_and_a_new_number_is_laid_out() -> None:
    from textual.content import Content

    from lambdatui.ui.widgets._lines import WidthLines

    rows = ["a = 1", "b = 2"]
    body = WidthLines(lambda width: [Content(row) for row in rows])
    async with Host(body).run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        asked = layouts_asked(body)
        rows[1] = "b = 3"  # what a globals panel does at most invokes
        body.invalidate()
        await pilot.pause()
        assert not any(asked) and "b = 3" in body.render().plain and body.size.height == 2
        rows.append("c = 4")
        body.invalidate()
        await pilot.pause()
        await pilot.pause()
        assert any(asked) and body.size.height == 3 and "c = 4" in body.render().plain


async def test_a_new_memory_figure_rewrites_its_line_only(warm_snapshot: DebuggerSnapshot) -> None:
    from textual.widgets import Static

    from lambdatui.model.facts import MemoryMeasured
    from lambdatui.ui.widgets.result_view import ResultView

    point = MemoryMeasured("invoke", "r-1", 30, 31, 30, 128, "cgroup v2")
    before = dataclasses.replace(warm_snapshot, memory=(point,))
    view = ResultView()
    async with Host(view).run_test(size=(140, 30)) as pilot:
        view.show(before)
        await pilot.pause()
        sections = {static.id: layouts_asked(static) for static in view.query(Static) if static.id}
        view.show(dataclasses.replace(before, memory=(point, dataclasses.replace(point, environment_mb=77))))
        await pilot.pause()
        report = str(view.query_one("#result-report", Static).render())
    assert "77" in report, report
    assert sections["result-report"] == [False]  # rewritten in place
    assert not any(sections[name] for name in sections if name != "result-report"), sections  # the rest untouched


async def test_the_next_invokes_result_lays_the_screen_out_only_when_its_payload_is_new(
        warm_snapshot: DebuggerSnapshot) -> None:
    # The same event invoked again: a new request id in the one-line title, the same payload. Laid out again, the
    # screen took the UI's thread (and the host's, which shares it) just as the invoke's REPORT was due.
    from textual.widgets import Static

    from lambdatui.ui.widgets.result_view import ResultView

    first = warm_snapshot.last_result
    assert first is not None
    again = dataclasses.replace(first, request_id="5f000000-0000-4000-8000-000000000009")
    other = dataclasses.replace(again, request_id="5f000000-0000-4000-8000-00000000000a",
                                payload=b'{"rows": [1, 2, 3], "more": {"a": 1, "b": 2}}')
    view = ResultView()
    async with Host(view).run_test(size=(140, 30)) as pilot:
        view.show(warm_snapshot)
        await pilot.pause()
        sections = {static.id: layouts_asked(static) for static in view.query(Static) if static.id}
        view.show(dataclasses.replace(warm_snapshot, last_result=again))
        await pilot.pause()
        title = str(view.query_one("#result-title", Static).render())
        asked_again = {name: list(asked) for name, asked in sections.items()}
        view.show(dataclasses.replace(warm_snapshot, last_result=other))
        await pilot.pause()
        payload = view.query_one("#result-payload", Static).content.code  # type: ignore[union-attr]  # a Syntax
    assert "5f000000" in title, title  # the new request id is shown...
    laid_out = [name for name, asked in asked_again.items() if any(asked)]
    assert asked_again["result-title"] and not laid_out, laid_out  # ...repainted without a layout
    assert '"rows"' in payload and any(sections["result-payload"]), sections  # a new payload is laid out
