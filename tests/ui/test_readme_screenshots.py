"""The README's screenshots are the snapshot tests' baselines: when the UI changes, both change together."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASELINES = ROOT / "tests" / "ui" / "__snapshots__" / "test_snapshots"
SHOTS = {
    "held-at-function-init.svg": "TestMainScreen.test_cold_start_held_at_function_init.svg",
    "warm-after-three-invokes.svg": "TestMainScreen.test_warm_after_three_invokes.svg",
    "timeout-with-stack.svg": "TestMainScreen.test_timeout_with_stack.svg",
    "crash-and-reset.svg": "TestMainScreen.test_crash_and_reset.svg",
    "frozen-between-invokes.svg": "TestMainScreen.test_frozen_between_invokes.svg",
    "travel-back-to-invoke-1.svg":
        "../test_travel_snapshots/test_invoke_1_selected_shows_its_state_and_the_past_marker.svg",
    "compare-two-invokes.svg": "../test_travel_snapshots/test_two_invokes_compared.svg",
    "api-traffic.svg": "../test_traffic_snapshots/test_api_traffic_of_the_runtime.svg",
    "tmp-file-viewer.svg": "../test_detail_views/test_tmp_viewer_text_image.svg",
    "log-search.svg": "../test_logs_snapshot/test_a_search_with_its_matches_highlighted.svg",
    "terminal-too-small.svg": "../test_layout_fit/test_snapshot_the_small_terminal_notice.svg",
}


@pytest.mark.parametrize(("shot", "baseline"), SHOTS.items())
def test_readme_screenshot_is_the_current_baseline(shot: str, baseline: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"docs/screenshots/{shot}" in readme
    assert (ROOT / "docs" / "screenshots" / shot).read_bytes() == (BASELINES / baseline).read_bytes(), (
        f"docs/screenshots/{shot} is stale: copy {baseline} over it"
    )
