"""Idle shutdown and provisioned concurrency (lambda-spec §11.1-11.2, §4.2-4.3), with real processes.

Idle shutdown: an on-demand environment that served nothing for `--idle-shutdown` seconds gets SHUTDOWN with
shutdownReason spindown (as its extension reports it), then its processes and its /tmp go, and the next invoke
cold-starts a new environment. An environment busy for longer than that period is never spun down under its
invoke.

Provisioned concurrency: N environments initialise before any invoke (INIT_START and the INIT_REPORT that
provisioned concurrency always logs), their runtime sees AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency,
their REPORT lines carry no Init Duration, invokes go to them first, beyond them on-demand environments take
the spill-over with cold starts of their own, and idle provisioned environments are never spun down.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from e2e_support import ServeProcess, descendants, proc_stat, wait_all_gone, write_file
from test_fleet_support import (
    INIT_REPORT, INIT_START, READY, REPORT, SPINDOWN, InFlight, commands, env_of_request, env_tmp_dirs, invoke,
    kill_survivors,
    line_index, matches, ready_env, report_line, runtimes_and_extensions, state_home, tree, wait_for_count,
    wait_until, write_function,
)

__all__ = ["state_home"]  # the fixture, used by name

GONE_WITHIN = 10.0


def spun_down(served: ServeProcess) -> list[int]:
    return [int(m.group(1)) for m in matches(served, SPINDOWN) if m.group(2) == "spindown"]


def test_an_idle_environment_gets_shutdown_spindown_loses_its_processes_and_tmp_and_the_next_invoke_is_cold(
        code_dir: Path, state_home: Path) -> None:
    handler = write_function(code_dir, extension=True)
    with ServeProcess(handler, "--idle-shutdown", "1", "--timeout", "30") as served:
        first = invoke(served, {"tag": "first"})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["n"] == 1
        number = env_of_request(served, body["request_id"])
        wait_for_count(served, REPORT, 1)

        # What this environment is made of, seen from the host while it is up: the sandbox holding the very
        # runtime process that answered, with its audit extension, and its /tmp with the handler's marker in it.
        # (serve initialises env #1 ahead of the first invoke; on a slow machine it may have gone idle before
        # that invoke came, which then started env #2: whichever served is the one followed here.)
        everything = tree(served.proc.pid)
        runtime = next(pid for pid, start in everything.items() if start == int(body["proc_start"]))
        sandbox = proc_stat(runtime)[1]
        before = {sandbox: everything[sandbox], **descendants(sandbox)}
        runtimes, audits = runtimes_and_extensions(before)
        assert runtimes == [runtime] and len(audits) == 1, commands(before)
        marker = [d / f"marker-{body['token']}" for d in env_tmp_dirs(state_home) if (d / f"marker-{body['token']}").exists()]
        assert len(marker) == 1, env_tmp_dirs(state_home)
        env_folder = marker[0].parent.parent

        try:
            # Idle for 1 s: SHUTDOWN, reason spindown, as the extension itself received it, after the REPORT.
            served.wait_for_line(rf"#{number} \[audit\]\s+\[audit\] SHUTDOWN reason=spindown", timeout=15)
            assert line_index(served, rf"REPORT RequestId: {body['request_id']}") < \
                line_index(served, rf"#{number} \[audit\]\s+\[audit\] SHUTDOWN")
            served.wait_for_line(rf"#{number} \[lambdatui\]\s+env #{number} has been idle for 1 s", timeout=5)

            # Then it is gone: every process of it, and its /tmp.
            survivors = wait_all_gone(before, GONE_WITHIN)
            assert survivors == {}, f"still running after the spindown: {survivors}"
            wait_until(lambda: not env_folder.exists(), GONE_WITHIN, f"{env_folder} removed after the spindown")
            assert served.proc.poll() is None  # serve itself goes on

            # The next invoke meets no environment: a new one, cold (INIT_START again, Init Duration), its own /tmp.
            # It runs longer than the idle period and is not spun down under its invoke.
            second = invoke(served, {"tag": "second", "sleep": 1.5})
            assert second.status_code == 200, second.text
            assert not second.headers.get("x-amz-function-error"), second.text
            again = second.json()
            assert again["n"] == 1 and again["token"] != body["token"]
            renumber = env_of_request(served, again["request_id"])
            assert renumber > number
            assert int(matches(served, INIT_START)[-1].group(1)) == renumber
            wait_for_count(served, REPORT, 2)
            assert "Init Duration:" in report_line(served, again["request_id"])
            assert all(not (d / f"marker-{body['token']}").exists() for d in env_tmp_dirs(state_home))

            # Its own spindown comes once its invoke is done, never during it.
            served.wait_for_line(rf"#{renumber} \[audit\]\s+\[audit\] SHUTDOWN reason=spindown", timeout=15)
            assert line_index(served, rf"REPORT RequestId: {again['request_id']}") < \
                line_index(served, rf"#{renumber} \[audit\]\s+\[audit\] SHUTDOWN")
        finally:
            served.close()
            kill_survivors(before)


TIMED_EXTENSION = '''#!/usr/bin/env python3
"""Registers for SHUTDOWN only, and says when (wall clock) it got it."""
import http.client, json, os, time

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({"events": ["SHUTDOWN"]}),
            headers={"Lambda-Extension-Name": "timed"})
response = api.getresponse()
response.read()
ident = response.getheader("Lambda-Extension-Identifier")
api.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ident})
event = json.loads(api.getresponse().read())
print(f"SHUTDOWN {event['shutdownReason']} at={time.time():.3f}", flush=True)
'''

SLOW_ON_DEMAND_INIT = '''import os
import time

time.sleep(float(os.environ["INIT_S"]))
print(f"init done at={time.time():.3f}", flush=True)  # the last thing of Init: the runtime asks for work next


def handler(event, context):
    return {}
'''


def test_an_environment_initialised_ahead_is_idle_from_the_end_of_its_init_not_from_its_creation(code_dir: Path) -> None:
    """serve initialises env #1 ahead of the first invoke. Its Init is work, not idleness: with --idle-shutdown 1
    and an Init of 1.5 s, env #1 must still be there, ready, for 1 s after its Init ended. (Counting from the
    environment's creation, it is spun down the moment its Init is over, before it could serve anything, and
    the first invoke always cold-starts a second environment.)"""
    handler = write_file(code_dir / "handler.py", SLOW_ON_DEMAND_INIT)
    write_file(code_dir / "extensions" / "timed", TIMED_EXTENSION, executable=True)
    with ServeProcess(handler, "--idle-shutdown", "1", "--env", "INIT_S=1.5") as served:
        ready = served.wait_for_line(r"#1 \[function\]\s+init done at=([\d.]+)", timeout=30)
        shutdown = served.wait_for_line(r"#1 \[timed\]\s+SHUTDOWN (\w+) at=([\d.]+)", timeout=30)
        assert shutdown.group(1) == "spindown"
        idle_for = float(shutdown.group(2)) - float(ready.group(1))
        assert idle_for >= 1.0, (f"env #1 was spun down {idle_for:.2f} s after its Init ended, not after 1 s "
                                 f"idle:\n{served.output()}")


def test_provisioned_environments_initialise_before_any_invoke_and_take_invokes_first(code_dir: Path) -> None:
    handler = write_function(code_dir)
    release = {name: code_dir / f"release-{name}" for name in ("a", "b", "c")}
    with ServeProcess(handler, "--provisioned", "2", "--concurrency", "3", "--timeout", "30") as served:
        # Two environments initialise with no invoke at all: INIT_START, then INIT_REPORT (always logged for
        # provisioned concurrency), and nothing else starts.
        reports = wait_for_count(served, INIT_REPORT, 2)
        assert sorted(int(m.group(1)) for m in reports) == [1, 2], served.output()
        assert sorted(int(m.group(1)) for m in matches(served, INIT_START)) == [1, 2]
        assert not matches(served, r"\[platform\]\s+START RequestId")
        for number in (1, 2):
            assert line_index(served, rf"#{number} \[platform\]\s+INIT_START") < \
                line_index(served, rf"#{number} \[platform\]\s+INIT_REPORT")

        # Three at once: the two provisioned environments, initialised already, and one on-demand spill-over,
        # which cold-starts.
        calls = {name: InFlight(served, {"tag": name, "release": str(path)}) for name, path in release.items()}
        wait_for_count(served, READY, 3)
        where = {name: ready_env(served, name) for name in calls}
        assert sorted(where.values()) == [1, 2, 3], where
        spill = next(name for name, number in where.items() if number == 3)
        assert sorted(int(m.group(1)) for m in matches(served, INIT_START)) == [1, 2, 3]

        # The spill-over finishes first, so that it is the environment idle the longest: a router that took
        # the longest idle, not a provisioned one, would pick it next.
        release[spill].touch()
        assert calls[spill].response().status_code == 200
        wait_for_count(served, REPORT, 1)
        for name in calls:
            release[name].touch()
        bodies = {name: call.response().json() for name, call in calls.items()}
        wait_for_count(served, REPORT, 3)

        for name, body in bodies.items():
            assert body["n"] == 1, body
            line = report_line(served, body["request_id"])
            if name == spill:
                assert body["init_type"] == "on-demand"
                assert "Init Duration:" in line, line
            else:
                assert body["init_type"] == "provisioned-concurrency"
                assert "Init Duration:" not in line, line

        # Warm now, all three: the next two go to the provisioned ones, one after the other.
        for tag in ("next-1", "next-2"):
            answer = invoke(served, {"tag": tag})
            assert answer.status_code == 200, answer.text
            assert answer.json()["init_type"] == "provisioned-concurrency", answer.json()
            assert env_of_request(served, answer.json()["request_id"]) in (1, 2)
            wait_for_count(served, REPORT, 4 if tag == "next-1" else 5)
        assert len(matches(served, INIT_START)) == 3


def test_idle_provisioned_environments_stay_while_idle_on_demand_ones_go(code_dir: Path) -> None:
    handler = write_function(code_dir, extension=True)
    release = {name: code_dir / f"release-{name}" for name in ("a", "b")}
    with ServeProcess(handler, "--provisioned", "1", "--concurrency", "2", "--idle-shutdown", "1",
                      "--timeout", "30") as served:
        wait_for_count(served, INIT_REPORT, 1)
        calls = {name: InFlight(served, {"tag": name, "release": str(path)}) for name, path in release.items()}
        wait_for_count(served, READY, 2)
        where = {name: ready_env(served, name) for name in calls}
        assert sorted(where.values()) == [1, 2], where
        provisioned = next(name for name, number in where.items() if number == 1)
        on_demand = next(name for name, number in where.items() if number == 2)

        # The provisioned one finishes first: idle the longer of the two, it would be spun down first.
        release[provisioned].touch()
        assert calls[provisioned].response().status_code == 200
        wait_for_count(served, REPORT, 1)
        release[on_demand].touch()
        assert calls[on_demand].response().status_code == 200

        wait_for_count(served, SPINDOWN, 1, timeout=15)
        assert spun_down(served) == [2], served.output()
        assert not matches(served, r"#1 \[lambdatui\]\s+env #1 has been idle"), served.output()

        # The provisioned environment is still there, warm: the next invoke is its second, no new Init.
        answer = invoke(served, {"tag": "later"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["n"] == 2 and answer.json()["init_type"] == "provisioned-concurrency"
        assert env_of_request(served, answer.json()["request_id"]) == 1
        assert len(matches(served, INIT_START)) == 2
        wait_for_count(served, REPORT, 3)

        # Its SHUTDOWN comes only with serve's own end, after that invoke.
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0, served.output()
        assert spun_down(served) == [2, 1], served.output()
        assert line_index(served, rf"REPORT RequestId: {answer.json()['request_id']}") < \
            line_index(served, r"#1 \[audit\]\s+\[audit\] SHUTDOWN")
        assert not re.search(r"env #1 has been idle", served.output()), served.output()


SLOW_INIT = '''import os
import time

time.sleep(float(os.environ["INIT_S"]))  # the function's own Init, longer than on-demand's 10 s
INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")


def handler(event, context):
    return {"init_type": INIT_TYPE}
'''


def test_a_provisioned_init_may_take_longer_than_the_10_s_on_demand_limit(code_dir: Path) -> None:
    """§4.2: provisioned concurrency's Init is limited by max(130 s, timeout), not by on-demand's 10 s."""
    handler = write_file(code_dir / "handler.py", SLOW_INIT)
    with ServeProcess(handler, "--provisioned", "1", "--concurrency", "1", "--env", "INIT_S=10.5") as served:
        report = served.wait_for_line(r"#1 \[platform\]\s+INIT_REPORT Init Duration: ([\d.]+) ms\s+Phase: init\s+"
                                      r"Status: (\w+)", timeout=30)
        assert report.group(2) == "success", served.output()
        assert float(report.group(1)) > 10_000
        answer = invoke(served, {})
        assert answer.status_code == 200 and not answer.headers.get("x-amz-function-error"), answer.text
        assert answer.json() == {"init_type": "provisioned-concurrency"}
        assert len(matches(served, INIT_START)) == 1  # no second Init (no suppressed init retried in the invoke)
        request_id = answer.headers["x-amzn-RequestId"]
        wait_for_count(served, REPORT, 1)
        assert "Init Duration:" not in report_line(served, request_id)
