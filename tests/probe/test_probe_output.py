"""Probes of output capture (3f8d5cb, 36039f8): a child's pipes, their 1 MiB size within the 8 MiB budget, the fast
line splitter and the LogType=Tail buffer, through the real `lambdatui serve` (real processes, real HTTP).

Every wait is on an event (a line in serve's stderr file, a process or a pipe gone from /proc), with a bound.
serve's stderr goes to a regular file: a file never blocks, so serve never drops lines for a slow reader.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import httpx
import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.fleet import FleetOptions
from lambdatui.processes import output
from lambdatui.runner import open_environment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from e2e_support import lambdatui_argv, stop  # noqa: E402
from test_fleet_support import env_tmp_dirs, state_home  # noqa: E402

from probe_support import EXTENSION_EVENTS_SOURCE  # noqa: E402

__all__ = ["state_home"]  # the fixture, used by name
pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
MIB = 1024 * 1024
DEFAULT_PIPE = 64 * 1024


def wait_until(check: Callable[[], object], what: str, timeout: float = WAIT_S, poll: float = 0.02) -> object:
    """Poll `check` (it reads another process's state: a file, /proc) until it is truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(poll)


class Serve:
    """`lambdatui serve PATH --port 0 ...`, its stderr in a file under `work` (not /tmp)."""

    def __init__(self, path: Path, work: Path, *extra: str) -> None:
        self.err_path = work / f"serve-{os.getpid()}-{time.monotonic_ns()}.err"
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([*lambdatui_argv(), "serve", str(path), "--port", "0", *extra], cwd=REPO,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._err)
        self.url = ""

    def text(self) -> str:
        return self.err_path.read_bytes().decode("utf-8", "replace")

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def __enter__(self) -> "Serve":
        try:
            def bound() -> Optional[str]:
                if self.proc.poll() is not None:
                    raise AssertionError(f"serve exited {self.proc.returncode}:\n{self.text()}")
                match = re.search(r"serving .* at (http://[^/\s]+)/2015-03-31/", self.text())
                return match.group(1) if match else None

            self.url = str(wait_until(bound, "serve to listen"))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        stop(self.proc, 30)
        self._err.close()

    def invoke(self, event: object, *, tail: bool = False, timeout: float = WAIT_S) -> httpx.Response:
        headers = {"X-Amz-Log-Type": "Tail"} if tail else {}
        with httpx.Client(timeout=timeout) as client:
            return client.post(f"{self.url}/2015-03-31/functions/function/invocations",
                               content=json.dumps(event).encode(), headers=headers)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = WAIT_S) -> list[str]:
        regex = re.compile(pattern)

        def found() -> list[str]:
            hits = [line for line in self.lines() if regex.search(line)]
            return hits if len(hits) >= count else []

        try:
            return list(wait_until(found, f"{count} line(s) matching {pattern!r}", timeout))  # type: ignore[arg-type]
        except AssertionError as exc:
            raise AssertionError(f"{exc}; stderr:\n{self.text()[-4000:]}") from None

    def pipe_inodes(self) -> set[int]:
        """The pipes serve holds open now (their inodes)."""
        held = set()
        fd_dir = f"/proc/{self.proc.pid}/fd"
        for name in os.listdir(fd_dir):
            try:
                target = os.readlink(f"{fd_dir}/{name}")
            except OSError:
                continue
            if target.startswith("pipe:["):
                held.add(int(target[6:-1]))
        return held


# A function's line as serve prints it, `#N [function]   text`, in a text of lines joined by "\n": each match lies
# within one line (`[^\S\n]` is `\s` but for the newline), as a match of each line on its own would.
FUNCTION_LINE = re.compile(r"^(?:#\d+ )?\[function\][^\S\n]{3}(.*)$", re.MULTILINE)
SIX_DIGITS = re.compile(r"\d{6}")


def function_texts(lines: list[str], request_id: Optional[str] = None) -> list[str]:
    """The function's lines as serve printed them (`#N [function]   text`), the prefix removed. `lines` as
    str.splitlines gives them (none holds a line break): searched as one text, the bursts' 400,000 lines cost a
    regular-expression call each no more (a second of CPU in a test)."""
    return FUNCTION_LINE.findall("\n".join(lines))


def parallel(n: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


# Invokes that must run at once, one environment each: each marks its tag in its environment's own /tmp (the
# only place Lambda lets it write, so no environment sees another's), then waits for the test's `go` file. The
# test touches it once every tag is marked: every invoke is running then, so each has an environment of its own.
TOGETHER = """
    open(os.path.join("/tmp", event["tag"]), "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists(event["go"]) and time.monotonic() < deadline:
        time.sleep(0.005)   # until the test has seen every invoke running
"""


def all_marked(state: Path, tags: list[str]) -> bool:
    """Whether every tag is marked in an environment's /tmp under `state` (lambdatui's state folder)."""
    try:
        marked = {tag for folder in env_tmp_dirs(state) for tag in tags if (folder / tag).exists()}
    except FileNotFoundError:
        return False  # an ended environment's folder went while it was listed: asked again
    return marked == set(tags)


def parallel_together(n: int, call: Callable[[int], httpx.Response], state: Path, tags: list[str],
                      go: Path) -> list[httpx.Response]:
    """`parallel`, with `go` touched once every invoke runs (TOGETHER), or however the wait for them ends."""
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(call, i) for i in range(n)]
        try:
            wait_until(lambda: all_marked(state, tags), f"{n} invokes running at once")
        finally:
            go.touch()
        return [future.result() for future in futures]


# ---------------------------------------------------------------------- a fleet, each environment printing a burst

BURST_HANDLER = r'''import json, os, sys, time

def handler(event, context):''' + TOGETHER + r'''    tag, lines = event["tag"], event["lines"]
    chunk = []
    for i in range(lines):
        chunk.append(f"{tag} out {i:06d}\n")
        if len(chunk) == 997:
            sys.stdout.write("".join(chunk)); chunk = []
    sys.stdout.write("".join(chunk))
    sys.stdout.flush()
    for i in range(event["err_lines"]):
        sys.stderr.write(f"{tag} err {i:06d}\n")
    sys.stderr.flush()
    return {"tag": tag}
'''


def test_a_fleet_of_bursts_delivers_every_line_in_order_and_each_invoke_gets_its_own_tail(code_dir: Path,
                                                                                           state_home: Path) -> None:
    """`serve --concurrency 6`, six invokes at once, each in its own environment printing 33,000 lines: serve's
    stderr (a regular file, which never makes a writer wait) holds every line, in order, none dropped."""
    handler = code_dir / "handler.py"
    handler.write_text(BURST_HANDLER)
    together, lines, err_lines = 6, 30_000, 3_000
    go = code_dir / "go"
    with Serve(handler, code_dir, "--concurrency", str(together), "--timeout", "60") as serve:
        def call(n: int) -> httpx.Response:
            return serve.invoke({"go": str(go), "tag": f"t{n}", "lines": lines, "err_lines": err_lines}, tail=True)

        answers = parallel_together(together, call, state_home, [f"t{n}" for n in range(together)], go)
        for n, answer in enumerate(answers):
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"tag": f"t{n}"}
        ids = [answer.headers["x-amzn-RequestId"] for answer in answers]
        serve.wait_for(r"\[platform\]\s+REPORT RequestId", count=together)
        printed = serve.lines()
        numbers = {re.match(r"#(\d+) ", line).group(1) for line in printed  # type: ignore[union-attr]
                   if "[platform]   START" in line}
        assert len(numbers) == together, f"the invokes shared environments: {sorted(numbers)}"
        # Each text under its first two words, in order: `tag out ...` and `tag err ...` (one pass over 200,000).
        by_kind: dict[tuple[str, str], list[str]] = {}
        for text in function_texts(printed):
            words = text.split(" ", 2)
            if len(words) == 3:
                by_kind.setdefault((words[0], words[1]), []).append(text)
        for n in range(together):
            tag = f"t{n}"
            out = by_kind.get((tag, "out"), [])
            err = by_kind.get((tag, "err"), [])
            assert out == [f"{tag} out {i:06d}" for i in range(lines)], (
                f"{tag}: {len(out)} of {lines} stdout lines, first wrong at "
                f"{next((i for i, t in enumerate(out) if t != f'{tag} out {i:06d}'), None)}")
            assert err == [f"{tag} err {i:06d}" for i in range(err_lines)], f"{tag}: {len(err)} stderr lines"
        assert "dropped" not in serve.text()
        # LogType=Tail: each invoke's last 4 KB, its own lines only, ending with its REPORT.
        for n, (answer, request_id) in enumerate(zip(answers, ids)):
            tail = base64.b64decode(answer.headers["x-amz-log-result"]).decode()
            assert len(tail.encode()) <= 4096
            assert tail.rstrip("\n").splitlines()[-1].startswith(f"REPORT RequestId: {request_id}"), tail[-300:]
            assert f"END RequestId: {request_id}" in tail
            mine = [line for line in tail.splitlines() if re.match(r"t\d+ (out|err) ", line)]
            assert mine and all(line.startswith(f"t{n} ") for line in mine), (n, mine[:3])
            # The last 4 KB: with ~15-byte lines, no more than one line's worth short of 4096 bytes.
            assert len(tail.encode()) >= 4096 - 64, len(tail.encode())


# ---------------------------------------------------------------------- the 8 MiB budget, given back

SIZES_HANDLER = r'''import fcntl, json, os, time

def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    if "go" in event:''' + TOGETHER.replace("\n    ", "\n        ") + r'''    sizes = {fd: fcntl.fcntl(fd, 1032) for fd in (1, 2)}   # F_GETPIPE_SZ of our stdout and stderr
    return {"out": sizes[1], "err": sizes[2], "inodes": [os.fstat(1).st_ino, os.fstat(2).st_ino]}
'''


def enlarged_count(answers: list[httpx.Response]) -> tuple[int, list[tuple[int, int]]]:
    sizes = [(answer.json()["out"], answer.json()["err"]) for answer in answers]
    return sum((out > DEFAULT_PIPE) + (err > DEFAULT_PIPE) for out, err in sizes), sizes


def fleets_one_after_another(serve: Serve, code_dir: Path, state: Path, together: int) -> list[tuple[int, list]]:
    """Two rounds of `together` invokes at once (each in an environment of its own), the first round's environments
    shut down for being idle, and their pipes closed by serve, before the next: each round's `enlarged_count`.
    Two are enough: the first takes what the budget gives (some pipes get the default size), so any of it not given
    back when its environments end leaves the second fewer 1 MiB pipes than the first."""
    rounds = []
    for round_number in range(2):
        go = code_dir / f"go{round_number}"

        def call(n: int) -> httpx.Response:
            return serve.invoke({"go": str(go), "tag": f"r{round_number}-{n}"})

        answers = parallel_together(together, call, state, [f"r{round_number}-{n}" for n in range(together)], go)
        assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
        rounds.append(enlarged_count(answers))
        inodes = {inode for answer in answers for inode in answer.json()["inodes"]}
        wait_until(lambda: not (serve.pipe_inodes() & inodes), "the round's pipes to be closed by serve")
    return rounds


def test_environments_that_end_give_their_pipes_budget_back_to_new_ones(code_dir: Path, state_home: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(SIZES_HANDLER)
    together = 8  # 16 runtime pipes: more than the budget's 8 enlarged ones
    budget_pipes = output.ENLARGED_PIPES_BUDGET // (output.PIPE_SIZE - DEFAULT_PIPE)
    with Serve(handler, code_dir, "--concurrency", str(together), "--idle-shutdown", "0.5",
               "--timeout", "60") as serve:
        rounds = fleets_one_after_another(serve, code_dir, state_home, together)
        first = rounds[0][0]
        assert 1 <= first <= budget_pipes, rounds[0]
        assert all(size in (DEFAULT_PIPE, output.PIPE_SIZE) for _, sizes in rounds for pair in sizes for size in pair)
        # Each new fleet gets as many 1 MiB pipes as the first did: the ended environments gave theirs back.
        assert [count for count, _ in rounds] == [first] * len(rounds), rounds


def test_a_runtime_restarted_after_each_crash_keeps_a_1_mib_pipe(code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(SIZES_HANDLER)
    with Serve(handler, code_dir, "--concurrency", "1") as serve:
        seen = []
        # 8 resets: 9 runtimes, 18 runtime pipes made and closed, over twice the budget's 8: enough that one pipe a
        # runtime not given back (half the leak of a runtime's pair) leaves the last runtime no 1 MiB pipe.
        for _ in range(8):
            crashed = serve.invoke({"crash": True})
            assert crashed.headers.get("x-amz-function-error") == "Unhandled", crashed.text
            answer = serve.invoke({})
            assert answer.status_code == 200, answer.text
            seen.append((answer.json()["out"], answer.json()["err"]))
        assert seen == [(output.PIPE_SIZE, output.PIPE_SIZE)] * len(seen), seen


# ---------------------------------------------------------------------- in process: every line the host hears


class Heard:
    """A numbered listener of the fleet: every log line each environment's processes printed, as the host
    publishes them (what the console, the debugger and the Logs API all take theirs from)."""

    def __init__(self) -> None:
        self.lines: dict[int, list[f.LogLine]] = {}

    def __call__(self, number: int, fact: object) -> None:
        lines = f.log_lines(fact)
        if lines:
            self.lines.setdefault(number, []).extend(lines)

    def texts(self, source: Optional[str] = None, stream: Optional[str] = None) -> dict[int, list[str]]:
        return {number: [line.text for line in lines if (source is None or line.source == source)
                         and (stream is None or line.stream == stream)]
                for number, lines in self.lines.items()}


@pytest.mark.trio
async def test_in_process_a_fleet_of_bursts_each_environment_hears_its_lines_in_order(code_dir: Path,
                                                                                      state_home: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(BURST_HANDLER)
    together, lines, err_lines = 6, 40_000, 4_000
    go = code_dir / "go"
    tags = [f"t{n}" for n in range(together)]
    heard = Heard()
    answers: dict[int, tuple[f.InvocationResult, Optional[str]]] = {}
    config = resolve_function(str(handler), timeout_s=60)
    fleet = FleetOptions(concurrency=together)
    async with open_environment(config, numbered_listeners=[heard], fleet=fleet) as running:
        async def call(n: int) -> None:
            event = {"go": str(go), "tag": f"t{n}", "lines": lines, "err_lines": err_lines}
            answers[n] = await running.fleet.invoke(json.dumps(event).encode(), wants_log_tail=True)

        with trio.fail_after(WAIT_S):
            async with trio.open_nursery() as nursery:
                for n in range(together):
                    nursery.start_soon(call, n)
                try:
                    while not all_marked(state_home, tags):  # every invoke running (TOGETHER), within the bound
                        await trio.sleep(0.02)
                finally:
                    go.touch()
    for n in range(together):
        result, tail = answers[n]
        assert json.loads(result.payload) == {"tag": f"t{n}"}
        text = base64.b64decode(tail or "").decode()
        assert text.rstrip("\n").splitlines()[-1].startswith(f"REPORT RequestId: {result.request_id}")
        mine = [line for line in text.splitlines() if re.match(r"t\d ", line)]
        assert mine and all(line.startswith(f"t{n} ") for line in mine), (n, mine[:3])
    outs = heard.texts(f.FUNCTION, "stdout")
    errs = heard.texts(f.FUNCTION, "stderr")
    by_tag = {}
    for number, texts in outs.items():
        tags = {text.split()[0] for text in texts}
        assert len(tags) <= 1, f"env #{number} heard several invokes' lines: {tags}"
        if tags:
            by_tag[tags.pop()] = number
    assert sorted(by_tag) == [f"t{n}" for n in range(together)], by_tag
    for tag, number in by_tag.items():
        assert outs[number] == [f"{tag} out {i:06d}" for i in range(lines)], (tag, len(outs[number]))
        assert errs[number] == [f"{tag} err {i:06d}" for i in range(err_lines)], (tag, len(errs[number]))


DAEMON_HANDLER = r"""import os, sys, time

def handler(event, context):
    done = event["done"]
    if event["start"]:
        pid = os.fork()
        if pid == 0:
            os.setsid()
            if os.fork() == 0:
                for i in range(event["lines"]):
                    os.write(1, f"daemon {i:06d}\n".encode())
                os.write(1, b"daemon: no newline at its end")
                open(done, "w").close()
                os._exit(0)
            os._exit(0)
        os.waitpid(pid, 0)
        return {"started": True}
    deadline = time.monotonic() + 30
    while not os.path.exists(done) and time.monotonic() < deadline:
        time.sleep(0.005)   # the daemon finishes while this invoke runs (it is frozen between invokes)
    print("second invoke ends", flush=True)
    return {"done": os.path.exists(done)}
"""


@pytest.mark.trio
async def test_in_process_a_daemons_burst_reaches_the_log_whole_and_in_order(code_dir: Path) -> None:
    handler = code_dir / "handler.py"
    handler.write_text(DAEMON_HANDLER)
    done = "/tmp/daemon-done"  # in the one environment's /tmp: the daemon writes it, the second invoke reads it
    lines = 60_000
    heard = Heard()
    config = resolve_function(str(handler), timeout_s=60)
    async with open_environment(config, numbered_listeners=[heard], fleet=FleetOptions(concurrency=1)) as running:
        with trio.fail_after(WAIT_S):
            first, _ = await running.fleet.invoke(json.dumps({"start": True, "done": done,
                                                              "lines": lines}).encode())
            assert json.loads(first.payload) == {"started": True}
            second, _ = await running.fleet.invoke(json.dumps({"start": False, "done": done,
                                                               "lines": lines}).encode())
            assert json.loads(second.payload) == {"done": True}
    # After the shutdown every pipe is closed: the daemon's unterminated last line is delivered too.
    texts = [text for texts in heard.texts(f.FUNCTION).values() for text in texts]
    daemon = [text for text in texts if text.startswith("daemon ")]
    assert daemon == [f"daemon {i:06d}" for i in range(lines)], f"{len(daemon)} of {lines}"
    # The daemon's unterminated last line is delivered too: on its own when an invoke's END came first (the
    # runtime's unfinished line is that invoke's), else completed by the runtime's next print in the same pipe.
    assert any(text.startswith("daemon: no newline at its end") for text in texts), texts[-3:]
    assert any(text.endswith("second invoke ends") for text in texts), texts[-3:]


EXTENSION = r"""#!{python}
import json, os, sys, urllib.request
{events}
name = os.path.basename(sys.argv[0])
for n, _ in enumerate(events(name)):
    sys.stdout.write("".join(f"{{name}} {{n}} out {{i:06d}}\n" for i in range({lines})))
    sys.stdout.flush()
    sys.stderr.write("".join(f"{{name}} {{n}} err {{i:06d}}\n" for i in range({lines} // 10)))
    sys.stderr.flush()
    os.write(1, b"%s %d bad \xff\xfe utf8\r\n" % (name.encode(), n))
"""


@pytest.mark.trio
async def test_in_process_extensions_bursts_reach_the_log_whole_and_in_order(code_dir: Path) -> None:
    (code_dir / "handler.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    lines = 30_000
    names = [f"ext{k}" for k in range(5)]  # 12 pipes with the runtime's: more than the budget enlarges
    for name in names:
        path = code_dir / "extensions" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(EXTENSION.format(python=sys.executable, lines=lines, events=EXTENSION_EVENTS_SOURCE))
        path.chmod(0o755)
    heard = Heard()
    config = resolve_function(str(code_dir / "handler.py"), timeout_s=60)
    async with open_environment(config, numbered_listeners=[heard], fleet=FleetOptions(concurrency=1)) as running:
        with trio.fail_after(WAIT_S):
            for _ in range(2):
                result, _ = await running.fleet.invoke(b"{}")
                assert json.loads(result.payload) == {"ok": True}
    # The shutdown waits for the extensions: every line of both INVOKE events is in by now.
    # Each extension's texts in order, and among them each `name n out ...` / `name n err ...` in order: one pass over
    # the 330,000 lines each (a pass for every extension and kind cost a second of CPU).
    sources = {f.extension_source(name): name for name in names}
    texts: dict[str, list[str]] = {name: [] for name in names}
    kinds: dict[tuple[str, str], list[str]] = {}  # (extension, its text's first three words) -> texts
    for lines_ in heard.lines.values():
        for line in lines_:
            owner = sources.get(line.source)
            if owner is not None:
                texts[owner].append(line.text)
                words = line.text.split(" ", 3)
                if len(words) == 4:  # `a b c ...`: the text starts with `a b c `
                    kinds.setdefault((owner, " ".join(words[:3])), []).append(line.text)
    for name in names:
        for n in range(2):
            out = kinds.get((name, f"{name} {n} out"), [])
            err = kinds.get((name, f"{name} {n} err"), [])
            assert out == [f"{name} {n} out {i:06d}" for i in range(lines)], (name, n, len(out))
            assert err == [f"{name} {n} err {i:06d}" for i in range(lines // 10)], (name, n, len(err))
            assert f"{name} {n} bad \ufffd\ufffd utf8\r" in texts[name]


# ---------------------------------------------------------------------- the console: lambdatui invoke, to a file

ONE_WRITE_HANDLER = r"""import os

def handler(event, context):
    # One write the 1 MiB pipe takes whole (the function never waits); the host reads it 256 KiB at a time.
    os.write(1, "".join(f"{i:06d}\n" for i in range(event["lines"])).encode())
    return {"printed": event["lines"]}
"""


def test_invoke_writes_every_line_of_a_burst_to_a_stderr_file(code_dir: Path) -> None:
    """`lambdatui invoke ... 2> file`: a regular file never makes a writer wait, so no line may be dropped."""
    handler = code_dir / "handler.py"
    handler.write_text(ONE_WRITE_HANDLER)
    lines = 140_000  # 7 bytes each: 980,000 bytes, within the pipe's 1 MiB
    err_path = code_dir / "invoke.err"
    with open(err_path, "wb") as err:
        done = subprocess.run([*lambdatui_argv(), "invoke", str(handler), "--repeat", "3", "-e",
                               json.dumps({"lines": lines})],
                              cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                              timeout=WAIT_S)
    assert done.returncode == 0
    printed = err_path.read_bytes().decode("utf-8", "replace").splitlines()
    out = [text for text in function_texts(printed) if SIX_DIGITS.fullmatch(text)]
    dropped = [line for line in printed if "dropped" in line]
    assert out == [f"{i:06d}" for i in range(lines)] * 3, f"{len(out)} of {3 * lines} lines; {dropped}"
    assert not dropped


# ---------------------------------------------------------------------- what a line is: bytes in, lines out

GENERATOR = r'''import random

def generate(seed):
    """Lines of every kind: plain, bad UTF-8, CRLF, longer than 256 KiB (ASCII or multibyte), empty."""
    rng = random.Random(seed)
    parts = []
    for n in range(300):
        kind = rng.choice(["short", "bad", "crlf", "long", "multibyte", "empty"])
        if kind == "short":
            parts.append(f"line {n} plain".encode())
        elif kind == "bad":
            parts.append(b"line %d bad \xff \xc3 \xe2\x82 \xf0\x9f\x98 end" % n)
        elif kind == "crlf":
            parts.append(b"line %d crlf\r" % n)
        elif kind == "long":
            parts.append(b"line %d long " % n + bytes([rng.choice(b"abcdef")]) * rng.choice(
                [65535, 65537, 140000, 262143, 262144, 262145, 300000, 600000]))
        elif kind == "multibyte":
            parts.append(b"line %d " % n + "é€😀".encode() * rng.choice([10, 7281, 20000, 29126, 29127, 29128, 40000]))
        else:
            parts.append(b"")
    return b"\n".join(parts) + b"\n"
'''

MIXED_HANDLER = GENERATOR + r'''
import os

def handler(event, context):
    data = generate(event["seed"])
    rng = random.Random(event["seed"] + 1)
    at = 0
    while at < len(data):   # written in uneven pieces: lines, characters and sequences cut across writes
        step = rng.choice([1, 2, 3, 7, 100, 4096, 65535, 65536, 65537, 200000])
        os.write(1, data[at:at + step])
        at += step
    return {"written": len(data)}
'''


def reference_lines(data: bytes, limit: int = 256 * 1024) -> list[str]:  # CloudWatch's event size
    """What the log should hold: each line decoded on its own (bad bytes as U+FFFD), a line longer than `limit`
    bytes in pieces of at most `limit` bytes cut at character starts. `data` ends with a newline."""
    out = []
    for raw in data.split(b"\n")[:-1]:
        while len(raw) > limit:
            cut = limit
            while cut > limit - 4 and 0x80 <= raw[cut] < 0xC0:
                cut -= 1
            out.append(raw[:cut].decode("utf-8", "replace"))
            raw = raw[cut:]
        out.append(raw.decode("utf-8", "replace"))
    return out


def test_mixed_output_lines_come_out_as_each_line_alone_would(code_dir: Path) -> None:
    namespace: dict = {}
    exec(GENERATOR, namespace)
    data = namespace["generate"](11)
    expected = reference_lines(data)
    (code_dir / "handler.py").write_text(MIXED_HANDLER)
    with Serve(code_dir / "handler.py", code_dir, "--concurrency", "1", "--timeout", "60") as serve:
        answer = serve.invoke({"seed": 11})
        assert answer.json() == {"written": len(data)}, answer.text
        serve.wait_for(r"\[platform\]\s+REPORT")
        got = function_texts(serve.lines())
    # The console ends a CRLF line at its CR (and prints no other control characters here).
    expected = [line[:-1] if line.endswith("\r") else line for line in expected]
    assert len(got) == len(expected), (len(got), len(expected))
    for n, (mine, theirs) in enumerate(zip(got, expected)):
        assert mine == theirs, f"line {n}: {mine[:80]!r} != {theirs[:80]!r}"


def test_when_stderr_is_not_read_the_dropped_notice_counts_the_lines_dropped(code_dir: Path) -> None:
    """A reader that does not read (stderr=PIPE, read only at the end): lines are dropped, and the notice says how
    many ("lambdatui: N log lines dropped"): what was printed plus N is what the function wrote."""
    handler = code_dir / "handler.py"
    handler.write_text(ONE_WRITE_HANDLER)
    lines = 140_000
    proc = subprocess.Popen([*lambdatui_argv(), "invoke", str(handler), "--repeat", "2", "-e",
                             json.dumps({"lines": lines})],
                            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        answers = [proc.stdout.readline() for _ in range(2)]  # both invokes are over: stderr was never read
        assert all(json.loads(answer) == {"printed": lines} for answer in answers), answers
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.wait(WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT_S)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    printed = err.splitlines()
    kept = sum(1 for text in function_texts(printed) if SIX_DIGITS.fullmatch(text))
    notices = [int(match.group(1)) for match in (re.search(r"lambdatui: (\d+) log lines? dropped", line)
                                                  for line in printed) if match]
    assert notices, "nothing was dropped: the reader did not stall"
    assert kept + sum(notices) == 2 * lines, f"{kept} printed and {sum(notices)} said dropped, of {2 * lines}"


# ---------------------------------------------------------------------- LogType=Tail through boto3

TAIL_HANDLER = r'''import sys

def handler(event, context):
    for i in range(event["lines"]):
        sys.stdout.write(f"tail {i:04d} " + "y" * event["width"] + "\n")
    sys.stdout.flush()
    return {"lines": event["lines"]}
'''


def boto3_client(url: str):  # type: ignore[no-untyped-def]
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    return boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}, read_timeout=60))


@pytest.mark.parametrize("width", [20, 3000], ids=["short-lines", "3000-byte-lines"])
def test_boto3_log_type_tail_is_the_last_4_kb_of_the_invokes_log(code_dir: Path, width: int) -> None:
    (code_dir / "handler.py").write_text(TAIL_HANDLER)
    lines = 20_000 if width == 20 else 40
    with Serve(code_dir / "handler.py", code_dir, "--concurrency", "1", "--timeout", "60") as serve:
        client = boto3_client(serve.url)
        for _ in range(2):  # cold, then warm
            response = client.invoke(FunctionName="probe", Payload=json.dumps({"lines": lines, "width": width}),
                                     LogType="Tail")
            assert json.loads(response["Payload"].read()) == {"lines": lines}
            tail = base64.b64decode(response["LogResult"])
            request_id = response["ResponseMetadata"]["RequestId"]
            text = tail.decode("utf-8", "replace")
            assert text.rstrip("\n").splitlines()[-1].startswith(f"REPORT RequestId: {request_id}"), text[-300:]
            assert f"tail {lines - 1:04d} " in text
            if width == 20:
                assert 4096 - 40 <= len(tail) <= 4096, len(tail)
                assert all(line.startswith("tail ") for line in text.splitlines()[1:-2]), text[:200]
            else:
                # The invoke's log is far longer than 4 KB: its tail is its last 4 KB (4,096 bytes, cut mid-line
                # where it falls), as Lambda's `LogResult` is.
                assert len(tail) == 4096, f"the tail holds {len(tail)} bytes, not the log's last 4,096"


def test_snapstart_restored_environments_give_their_pipes_budget_back(code_dir: Path, state_home: Path) -> None:
    """Each restored environment's runtime gets its pipes from `output_pipes` (a copy forked by the snapshot):
    they too count against the budget while open and give it back when the environment ends."""
    handler = code_dir / "handler.py"
    handler.write_text(SIZES_HANDLER)
    together = 6
    with Serve(handler, code_dir, "--snapstart", "--concurrency", str(together + 1), "--idle-shutdown", "0.5",
               "--timeout", "60") as serve:
        rounds = fleets_one_after_another(serve, code_dir, state_home, together)
        first = rounds[0][0]
        assert first >= 1, rounds[0]
        assert [count for count, _ in rounds] == [first] * len(rounds), rounds


RESIZING_HANDLER = r'''import fcntl, os

def handler(event, context):
    sizes = {"out": fcntl.fcntl(1, 1032), "err": fcntl.fcntl(2, 1032)}   # F_GETPIPE_SZ
    if event.get("resize"):
        for fd in (1, 2):
            fcntl.fcntl(fd, 1031, event["resize"])   # F_SETPIPE_SZ: any process may size its own pipe
        os._exit(3)   # and the environment resets: its runtime's pipes are closed
    return sizes
'''


def test_a_function_that_resizes_its_own_pipe_does_not_use_up_the_budget(code_dir: Path) -> None:
    """The budget counts what lambdatui enlarged. A function may resize its stdout itself (F_SETPIPE_SZ needs no
    privilege for its own pipe); once its environment resets, a new runtime must still get 1 MiB pipes."""
    handler = code_dir / "handler.py"
    handler.write_text(RESIZING_HANDLER)
    with Serve(handler, code_dir, "--concurrency", "1") as serve:
        seen = []
        for _ in range(8):  # 16 pipes of 1 MiB made, each shrunk by its function to 4 KiB, then closed
            before = serve.invoke({})
            assert before.status_code == 200, before.text
            seen.append((before.json()["out"], before.json()["err"]))
            crashed = serve.invoke({"resize": 4096})
            assert crashed.headers.get("x-amz-function-error") == "Unhandled", crashed.text
        after = serve.invoke({}).json()
        seen.append((after["out"], after["err"]))
        assert seen == [(output.PIPE_SIZE, output.PIPE_SIZE)] * len(seen), seen


def test_pipes_a_child_enlarged_itself_are_not_given_back_as_lambdatuis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget bounds the pipes lambdatui enlarged that are open at once. A pipe that got the default size
    (the budget was spent) and that its child enlarged itself gives back nothing when closed: the budget is
    still spent by the pipes that are open, and new pipes must not be enlarged past it."""
    monkeypatch.setattr(output, "_enlarged", {})  # this process's own account, as a fresh lambdatui's
    opened = [output.output_pipe() for _ in range(16)]
    try:
        sizes = [output.fcntl.fcntl(read, 1032) for read, _ in opened]
        enlarged = [pair for pair, size in zip(opened, sizes) if size == output.PIPE_SIZE]
        default = [pair for pair, size in zip(opened, sizes) if size == DEFAULT_PIPE]
        assert len(enlarged) == output.ENLARGED_PIPES_BUDGET // (output.PIPE_SIZE - DEFAULT_PIPE) and default
        for _, write in default:  # the child, a real process, makes its own stdout 1 MiB
            subprocess.run([sys.executable, "-c", "import fcntl; fcntl.fcntl(1, 1031, 1 << 20)"], stdout=write,
                           check=True, timeout=WAIT_S)
        for read, write in default:
            output.close_read_end(read)
            os.close(write)
        opened = enlarged
        more = [output.output_pipe() for _ in range(4)]
        opened = opened + more
        now_enlarged = sum(output.fcntl.fcntl(read, 1032) > DEFAULT_PIPE for read, _ in opened)
        assert now_enlarged * (output.PIPE_SIZE - DEFAULT_PIPE) <= output.ENLARGED_PIPES_BUDGET, (
            f"{now_enlarged} pipes of 1 MiB open at once: past the {output.ENLARGED_PIPES_BUDGET >> 20} MiB budget")
    finally:
        for read, write in opened:
            output.close_read_end(read)
            os.close(write)


def test_boto3_response_stream_log_tail_holds_the_invokes_last_lines(code_dir: Path) -> None:
    (code_dir / "handler.py").write_text(TAIL_HANDLER)
    with Serve(code_dir / "handler.py", code_dir, "--concurrency", "1", "--timeout", "60") as serve:
        client = boto3_client(serve.url)
        response = client.invoke_with_response_stream(FunctionName="probe", LogType="Tail",
                                                      Payload=json.dumps({"lines": 5000, "width": 20}))
        chunks, complete = [], None
        for event in response["EventStream"]:
            if "PayloadChunk" in event:
                chunks.append(event["PayloadChunk"]["Payload"])
            if "InvokeComplete" in event:
                complete = event["InvokeComplete"]
        assert json.loads(b"".join(chunks)) == {"lines": 5000}
        assert complete is not None and complete.get("LogResult"), complete
        text = base64.b64decode(complete["LogResult"]).decode()
        assert "tail 4999 " in text and "REPORT RequestId" in text.rstrip("\n").splitlines()[-1], text[-300:]
        assert 4096 - 40 <= len(text.encode()) <= 4096
