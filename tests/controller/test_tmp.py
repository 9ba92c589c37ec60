"""The environment's /tmp as the controller lists it: which phase created and last changed each path."""

from __future__ import annotations

import pytest

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.faults import Crash
from lambdatui.model.invoke_compare import REMOVED, compare_invokes, invoke_choices

from controller_support import debugger, payload, write_handler
from sandbox_support import without_host_folders

# The environment's /tmp is gettempdir(): /tmp itself in the private mount namespace, TMPDIR where
# lambdatui falls back (the checkout or its virtualenv under /tmp). An absolute /tmp would then be the
# host's, and the test would litter it; the listing under test is the same in both modes.
WRITER = """\
    import os
    import tempfile

    TMP = tempfile.gettempdir()
    with open(os.path.join(TMP, "at_import"), "w") as fh:
        fh.write("imported")


    def handler(event, context):
        for mode, name, text in event.get("ops", []):
            with open(os.path.join(TMP, name), mode) as fh:
                fh.write(text)
        if event.get("symlink"):
            os.symlink("/", os.path.join(TMP, "escape"))
        return sorted(os.listdir(TMP))
    """


def attribution(dbg) -> dict[str, tuple[str, str, str, str]]:
    return {path: (e.kind, e.created_by, e.changed_by, e.change) for path, e in dbg.tmp_paths().items()}


@pytest.mark.trio
async def test_tmp_paths_are_attributed_to_the_phase_that_wrote_them_and_survive_a_reset(code_dir):
    write_handler(code_dir, WRITER)
    async with debugger(code_dir / "handler.py") as dbg:
        first, _ = await dbg.invoke({"ops": [["w", "a", "one"]]})
        rid1 = first.request_id
        assert without_host_folders(payload(first)) == ["a", "at_import"]  # the function's /tmp is the environment's own
        assert attribution(dbg) == {
            "/tmp/at_import": ("file", "init", "init", "same"),
            "/tmp/a": ("file", rid1, rid1, "new"),
        }
        assert dbg.snapshot().tmp.by == rid1

        second, _ = await dbg.invoke({"ops": [["a", "a", "two"], ["w", "b", "bee"]]})
        rid2 = second.request_id
        assert attribution(dbg) == {
            "/tmp/at_import": ("file", "init", "init", "same"),
            "/tmp/a": ("file", rid1, rid2, "changed"),
            "/tmp/b": ("file", rid2, rid2, "new"),
        }
        assert dbg.tmp_paths()["/tmp/a"].size == len("onetwo")

        # A reset kills the process but keeps the disk, with every attribution.
        dbg.submit(c.InjectFault(Crash()))
        await dbg.settled()
        assert dbg.env.state is EnvState.COLD
        kept = attribution(dbg)
        assert kept["/tmp/a"][1:3] == (rid1, rid2) and kept["/tmp/b"][1:3] == (rid2, rid2)
        third, report = await dbg.invoke()
        assert report.cold and without_host_folders(payload(third)) == ["a", "at_import", "b"]
        assert dbg.tmp_paths()["/tmp/a"].created_by == rid1


@pytest.mark.trio
async def test_a_new_environment_starts_with_an_empty_tmp_and_an_on_demand_init(code_dir):
    write_handler(code_dir, WRITER)
    async with debugger(code_dir / "handler.py") as dbg:
        await dbg.invoke({"ops": [["w", "a", "one"]]})
        old_tmp = dbg.running.host.sandbox.tmp_dir
        assert (old_tmp / "a").is_file()
        assert dbg.snapshot().environment_number == 1

        mark = dbg.facts.mark()
        dbg.submit(c.NewEnvironment())
        await dbg.settled()
        assert dbg.env.state is EnvState.COLD
        assert dbg.snapshot().environment_number == 2
        fresh_listing = dbg.facts.since(mark, f.TmpChanged)[-1]
        assert fresh_listing.by == "before" and fresh_listing.entries == ()

        result, report = await dbg.invoke({"ops": [["w", "c", "new"]]})
        assert without_host_folders(payload(result)) == ["at_import", "c"]
        assert report.cold and report.init_duration_ms is not None  # an on-demand Init, reported apart
        assert [p.detail for p in dbg.facts.since(mark, f.PhaseStarted) if p.phase == "init"] == ["init"]
        assert attribution(dbg) == {
            "/tmp/at_import": ("file", "init", "init", "same"),
            "/tmp/c": ("file", result.request_id, result.request_id, "new"),
        }
        assert dbg.running.host.sandbox.tmp_dir != old_tmp


@pytest.mark.trio
async def test_a_symlink_to_the_root_is_listed_and_never_followed(code_dir):
    write_handler(code_dir, WRITER)
    async with debugger(code_dir / "handler.py") as dbg:
        result, _ = await dbg.invoke({"symlink": True})
        assert without_host_folders(payload(result)) == ["at_import", "escape"]
        paths = dbg.tmp_paths()
        assert paths["/tmp/escape"].kind == "symlink"
        assert paths["/tmp/escape"].created_by == result.request_id
        assert sorted(paths) == ["/tmp/at_import", "/tmp/escape"]
        assert not any(p.startswith("/tmp/escape/") for p in paths)
        assert not dbg.snapshot().tmp.truncated


CUT_LISTING = """\
    import os
    import tempfile

    TMP = tempfile.gettempdir()


    def handler(event, context):
        folder = os.path.join(TMP, event["folder"])
        os.makedirs(folder, exist_ok=True)
        for i in range(event["files"]):
            open(os.path.join(folder, "%04d" % i), "w").close()
        return "ok"
    """


@pytest.mark.trio
async def test_comparing_two_cut_listings_never_calls_a_file_that_is_still_there_removed(code_dir):
    # Invoke 1 fills /tmp past the listing's 2,000 entries; invoke 2 adds a folder that sorts first, so the
    # breadth-first listing now stops earlier in big/: its last files are not listed, yet they are all there.
    write_handler(code_dir, CUT_LISTING)
    async with debugger(code_dir / "handler.py") as dbg:
        await dbg.invoke({"folder": "big", "files": 2500})
        await dbg.invoke({"folder": "a", "files": 10})
        timeline = dbg.snapshot().timeline
        first, second = invoke_choices(timeline)
        before = dbg.session.snapshot(as_of=first.seq)
        after = dbg.session.snapshot(as_of=second.seq)
        assert before.tmp is not None and before.tmp.truncated and after.tmp is not None and after.tmp.truncated
        comparison = compare_invokes(first, before, second, after)
        assert [t.path for t in comparison.tmp if t.change == REMOVED] == []
        assert comparison.tmp_cut  # and the comparison says its listings were cut
