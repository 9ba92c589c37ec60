"""`lambdatui replay --help`: what a replay does and prints, and the scenario file's format in brief (README has
the whole of it); and what a mistyped or misplaced mode was meant to be."""

from __future__ import annotations

import os
from typing import Optional, Sequence

REPLAY_DESCRIPTION = """\
Run the steps of a scenario file against the function and check each step's expectations. The first
invoke cold-starts an environment; invokes fired together (parallel) get environments of their own, as in
Lambda, up to the concurrency limit; every environment is shut down at the end.

Output: the timeline goes to stdout, one block per step (boundaries passed, platform lines such as
INIT_REPORT and REPORT, the response or error, faults, resets, the stack captured at a timeout, then the
verdict). The function's and extensions' own output goes to stderr, tagged as 'invoke' prints it; with
--verbose it is shown inside the timeline on stdout instead.

Options given on the command line override the scenario's [function] table (timeout, memory, handler,
concurrency, provisioned, idle shutdown, snapstart, max concurrency, retries; env: --env and --env-file win variable by
variable)."""

REPLAY_EPILOG = """\
scenario file (TOML):
  [function]                 optional: timeout, memory, handler, env = { KEY = "value" },
                             concurrency = N, provisioned = N, idle_shutdown = SECONDS,
                             snapstart = true (env #1 initialises into the snapshot; every invoke's
                             environment is restored from it; not with provisioned or max_concurrency),
                             max_concurrency = M (Managed Instances, as --max-concurrency),
                             retry_attempts = N, max_event_age = SECONDS, retry_wait = SECONDS (a failed
                             Event invoke's retries, as --maximum-retry-attempts, --maximum-event-age,
                             --retry-wait)
  [[step]]                   one per step, run in order; each does exactly ONE of:
    invoke = { ... }           the table is the JSON event (or invoke = '<JSON text>');
                               invocation_type = "Event" sends it as an Event invoke; retries = N:
                               the fleet ran it again N times after its function error (the replay's
                               end waits for as many; on a parallel step, for its Event invokes together);
                               after_retries = N: N retries of earlier failed Event invokes had ended
                               when it came (a replay waits for as many before it sends it)
                               worker = N (Managed Instances) gives it to the environment's worker #N
                               (numbered as they first ask for work; each has its own globals)
                               streamed = true takes the response as a stream (InvokeWithResponseStream,
                               a function URL: a stream's 200 MB limit and errors), not buffered;
                               { hung_up_after = N } / { stopped_reading_after = N }: its caller hung up,
                               or read no more, once it had taken N bytes
    parallel = [{...}, ...]    2 to 100 events fired together (tables or JSON text);
                               invocation_types = ["RequestResponse", "Event", ...], streams = [false,
                               true, ...], envs = [N, ...] (each as env = N sends an invoke; 0: routed
                               as usual), workers = [N, ...] (each as worker = N; 0: any) by position
    event_file = "e.json"      the event from a file, relative to the scenario
                             with an invoke: client_context = '{"custom": {...}}' (X-Amz-Client-Context's
                             JSON), qualifier = "prod" (a version or alias the caller named) and
                             trace_header = "Root=...;Sampled=1" (its X-Amzn-Trace-Id: _X_AMZN_TRACE_ID); for a
                             parallel step client_contexts = [...], qualifiers = [...], trace_headers = [...]
                             by position ("" none)
    fault = "crash" | "freeze" | "thaw" | "timeout" | "raise" | "init-error"
                               options: target = "runtime" | "<extension>", signal = "SIGKILL" | 9,
                               exit_code, exception, message, at = "<boundary>" (arm for later);
                               with at = "invoke.start", after_ms = N acts N ms into the handler;
                               on Managed Instances in_flight = N acts at the invoke.start that has
                               N invokes in flight at once in the environment
    new_environment = true     the next invoke cold-starts with an empty /tmp
    shutdown = true            SHUTDOWN(spindown) to extensions, every environment gone for good (later invokes
                               are refused: Sandbox.Failure); with env = N, that one only (the next invoke
                               goes to another, or cold-starts a new one)
                             env = N: a fault or new_environment acts on env #N only (default: #1), a shutdown too;
                             an invoke goes to env #N if it can take it now (started, if no environment has
                             had that number yet), else where the fleet routes it
    pause = 1.5                sit idle (frozen) for that many seconds, at most 60
  expect = { ... }           optional checks on what followed the step:
    each = [{...}, ...]        for a parallel step: one table of the keys below per invoke, by position
    same = "id" | ["id", "body.user"]
                               for a parallel step: these values of the responses (keys joined by dots)
                               are equal in every invoke; distinct = ...: different in each
    environments, cold_starts, warm_hits, throttled, spun_down
                               the fleet: environments alive after the step, the rest counted during it
    response (JSON: a table, or JSON text; the keys it names must match, recursively, others are
    ignored, arrays compare whole), response_exact = true (the whole object must be equal),
    error_type, succeeded = true (it returned a response, whatever it holds),
    failed_after (it returned a response, then failed: REPORT's error type, or "timeout"), cold,
    globals = { name = "repr" },
    tmp = ["/tmp/f"], tmp_absent = [...], shutdown_reason, phases = ["invoke.start", ...],
    telemetry = { extension = "name", types = ["platform.start", "function", "platform.report"] }
      (the Telemetry/Logs API record types that step's invoke sent that extension, in order; others may come
      between unless exact = true; records still in a frozen environment's buffer are awaited)

exit status: 0 every expectation held; 1 an expectation failed (the first one is shown as a diff) or a
step did not settle in time; 2 a malformed scenario (FILE:LINE: message) or bad options."""


def mistaken_mode(argv: Sequence[str], modes: Sequence[str]) -> Optional[str]:
    """What a mode mistyped (`lambdatui invok fn.py`) or written after the path (`lambdatui fn.py serve`) was meant to
    be. Either would otherwise open the debugger's parser, which calls the function's path an unrecognized argument."""
    import difflib

    first = argv[0]
    close = difflib.get_close_matches(first, modes, n=1, cutoff=0.6)
    if close and not os.path.exists(first):
        return f"{first}: no such file or directory, nor a mode: did you mean 'lambdatui {close[0]} ...'?"
    if len(argv) > 1 and argv[1] in modes:
        return f"the mode comes first: lambdatui {argv[1]} {first} ..."
    return None
