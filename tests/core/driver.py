"""A small driver for the pure lifecycle core: deterministic ids, a fake clock, token counters.

Nothing here runs a process or a clock: every input is stamped with the driver's `now`, which only
moves when a test calls `advance`. Every effect the core returns is kept in `log`, so a test can ask
what happened overall or since a `mark()`.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Iterable, Optional, TypeVar

from lambdatui.core import inputs as ins
from lambdatui.core import platform_lines
from lambdatui.core.effects import (
    RUNTIME,
    CancelTimer,
    CompleteInvocation,
    Effect,
    Emit,
    Kill,
    Reply,
    Spawn,
    StartTimer,
    Terminate,
    extension_key,
)
from lambdatui.core.environment import Environment, EnvironmentConfig
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState

WALL0 = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z
MONO0 = 1000.0
FUNCTION_NAME = "my-fn"
HANDLER = "app.handler"
ACCOUNT = "012345678912"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION_NAME}"
BOTH = ("INVOKE", "SHUTDOWN")

T = TypeVar("T")


def ext(name: str) -> str:
    return extension_key(name)


class Driver:
    def __init__(
        self,
        extensions: Iterable[str] = (),
        *,
        timeout_ms: int = 3000,
        memory_mb: int = 128,
        init_timeout_ms: int = 10_000,
        mono0: float = MONO0,
        wall0: int = WALL0,
        snapstart: str = "",
        exec_wrapper: str = "",
    ) -> None:
        self.config = EnvironmentConfig(
            function_name=FUNCTION_NAME,
            handler=HANDLER,
            timeout_ms=timeout_ms,
            memory_mb=memory_mb,
            extension_names=tuple(extensions),
            init_timeout_ms=init_timeout_ms,
            account_id=ACCOUNT,
            snapstart=snapstart,
            exec_wrapper=exec_wrapper,
        )
        self._ids = itertools.count(1)
        self.env = Environment(self.config, new_id=lambda: f"id-{next(self._ids)}")
        self._tokens = itertools.count(1)
        self._requests = itertools.count(1)
        self._mono0 = mono0
        self._wall0 = wall0
        self._us = 0  # microseconds since the start
        self.log: list[Effect] = []
        self.last: list[Effect] = []
        self.ext_ids: dict[str, str] = {}
        self.next_token: dict[str, int] = {}  # participant -> its latest /next token

    # ------------------------------------------------------------------ clock and feeding

    @property
    def now(self) -> ins.Instant:
        return ins.Instant(self._mono0 + self._us / 1e6, self._wall0 + self._us // 1000)

    @property
    def mono(self) -> float:
        return self.now.mono

    @property
    def wall_ms(self) -> int:
        return self.now.wall_ms

    def advance(self, ms: float) -> None:
        self._us += round(ms * 1000)

    def token(self) -> int:
        return next(self._tokens)

    def feed(self, event: ins.Input) -> list[Effect]:
        self.last = self.env.handle(event, self.now)
        self.log.extend(self.last)
        return self.last

    def mark(self) -> int:
        return len(self.log)

    @property
    def state(self) -> EnvState:
        return self.env.state

    # ------------------------------------------------------------------ looking at effects

    def effects(self, kind: Optional[type[T]] = None, since: int = 0) -> list[Any]:
        out = self.log[since:]
        return [e for e in out if kind is None or isinstance(e, kind)]

    def replies_to(self, token: int, since: int = 0) -> list[Reply]:
        return [e for e in self.effects(Reply, since) if e.token == token]

    def reply(self, token: int) -> Reply:
        replies = self.replies_to(token)
        assert len(replies) == 1, f"expected exactly one reply to {token}, got {replies}"
        return replies[0]

    def reply_json(self, token: int) -> Any:
        return json.loads(self.reply(token).body)

    def answered(self, token: int) -> bool:
        return bool(self.replies_to(token))

    def spawns(self, since: int = 0) -> list[Spawn]:
        return self.effects(Spawn, since)

    def spawned(self, since: int = 0) -> list[str]:
        return [s.participant for s in self.spawns(since)]

    def killed(self, since: int = 0) -> list[str]:
        return [k.participant for k in self.effects(Kill, since)]

    def terminated(self, since: int = 0) -> list[str]:
        return [k.participant for k in self.effects(Terminate, since)]

    def facts(self, kind: Optional[type[T]] = None, since: int = 0) -> list[Any]:
        return [e.fact for e in self.effects(Emit, since) if kind is None or isinstance(e.fact, kind)]

    def lines(self, source: str = f.PLATFORM, since: int = 0) -> list[str]:
        return [line.text for line in self.facts(f.LogLine, since) if line.source == source]

    def explanations(self, since: int = 0) -> list[str]:
        return self.lines(f.LAMBDATUI, since)

    def reports(self, since: int = 0) -> list[f.InvokeReported]:
        return self.facts(f.InvokeReported, since)

    def report_lines(self, since: int = 0) -> list[str]:
        """REPORT lines as the host renders them from InvokeReported facts."""
        return [platform_lines.report(r) for r in self.reports(since)]

    def states(self, since: int = 0) -> list[EnvState]:
        return [s.state for s in self.facts(f.StateChanged, since)]

    def completions(self, since: int = 0) -> list[CompleteInvocation]:
        return self.effects(CompleteInvocation, since)

    def result_for(self, token: Optional[int]) -> f.InvocationResult:
        done = [c for c in self.completions() if c.token == token]
        assert len(done) == 1, f"expected exactly one completion for {token}, got {done}"
        return done[0].result

    def started_timers(self, since: int = 0) -> dict[str, float]:
        return {t.name: t.at for t in self.effects(StartTimer, since)}

    def cancelled_timers(self, since: int = 0) -> list[str]:
        return [t.name for t in self.effects(CancelTimer, since)]

    def boundaries(self, since: int = 0) -> list[tuple[str, bool]]:
        return [(b.boundary.value, b.held) for b in self.facts(f.BoundaryReached, since)]

    def held_boundaries(self, since: int = 0) -> list[str]:
        return [b for b, held in self.boundaries(since) if held]

    # ------------------------------------------------------------------ the participants' calls

    def start(self) -> list[Effect]:
        return self.feed(ins.StartEnvironment())

    def runtime_next(self, connection: int = 0) -> int:
        tok = self.token()
        self.next_token[RUNTIME] = tok
        self.feed(ins.RuntimeNext(tok, connection=connection))
        return tok

    def register(self, name: str, events: Iterable[str] = BOTH, *, account: bool = False) -> Reply:
        tok = self.token()
        self.feed(ins.ExtensionRegister(tok, name, tuple(events), account))
        reply = self.reply(tok)
        if reply.status == 200:
            self.ext_ids[name] = dict(reply.headers)["Lambda-Extension-Identifier"]
        return reply

    def ext_next(self, name: str, extension_id: Optional[str] = None) -> int:
        tok = self.token()
        self.next_token[ext(name)] = tok
        self.feed(ins.ExtensionNext(tok, extension_id or self.ext_ids[name]))
        return tok

    def ext_init_error(self, name: str, error_type: str = "Extension.ConfigInvalid") -> int:
        tok = self.token()
        self.feed(ins.ExtensionInitError(tok, self.ext_ids[name], error_type))
        return tok

    def ext_exit_error(self, name: str, error_type: str = "Extension.Broken") -> int:
        tok = self.token()
        self.feed(ins.ExtensionExitError(tok, self.ext_ids[name], error_type))
        return tok

    def gate(self) -> int:
        tok = self.token()
        self.feed(ins.FunctionInitGate(tok))
        return tok

    def invocation(self, request_id: Optional[str] = None, **fields: Any) -> ins.Invocation:
        rid = request_id or f"req-{next(self._requests)}"
        fields.setdefault("payload", b'{"hello":"world"}')
        return ins.Invocation(rid, **fields)

    def invoke(self, request_id: Optional[str] = None, *, caller: bool = True, **fields: Any) -> tuple[Optional[int], str]:
        """Request an invoke; returns (caller token, request id)."""
        inv = self.invocation(request_id, **fields)
        tok = self.token() if caller else None
        self.feed(ins.InvokeRequested(tok, inv))
        return tok, inv.request_id

    def respond(self, request_id: str, body: bytes = b'"ok"', content_type: str = "application/json",
                too_large: bool = False, connection: int = 0) -> int:
        tok = self.token()
        self.feed(ins.RuntimeResponse(tok, request_id, body, content_type, too_large, connection=connection))
        return tok

    def stream_start(self, request_id: str, content_type: str = "text/plain") -> int:
        """The runtime's streamed /response begins (lambda-spec §1.8); returns its token (STREAM_ACCEPTED: go on)."""
        tok = self.token()
        self.feed(ins.RuntimeStreamStarted(tok, request_id, content_type))
        return tok

    def stream_end(self, request_id: str, body: bytes = b"", *, size: Optional[int] = None,
                   content_type: str = "text/plain", **how: Any) -> int:
        """The streamed /response ends: `body` kept for a buffered caller (b"" when the caller streams), `size`
        bytes sent (default: the body's); `how` is error_type, error_body, truncated or too_large. Returns the
        token of the runtime's answer (202, or its error)."""
        tok = self.token()
        self.feed(ins.RuntimeStreamEnded(tok, request_id, body, len(body) if size is None else size, content_type,
                                         **how))
        return tok

    def invocation_error(self, request_id: str, body: bytes, content_type: str = "application/json",
                         error_type: Optional[str] = None) -> int:
        tok = self.token()
        self.feed(ins.RuntimeInvocationError(tok, request_id, body, content_type, error_type))
        return tok

    def init_error(self, body: bytes, error_type: Optional[str], content_type: str = "application/json") -> int:
        tok = self.token()
        self.feed(ins.RuntimeInitError(tok, body, content_type, error_type))
        return tok

    def exited(self, participant: str, code: Optional[int] = 0, description: Optional[str] = None,
               generation: Optional[int] = None) -> list[Effect]:
        desc = description or (f"exit status {code}" if code is not None else "signal: killed")
        gen = self.env.generation if generation is None else generation
        return self.feed(ins.ProcessExited(participant, gen, desc, code))

    def killed_by_signal(self, participant: str) -> list[Effect]:
        return self.exited(participant, code=None, description="signal: killed")

    def fire(self, timer: str) -> list[Effect]:
        return self.feed(ins.TimerFired(timer))

    # ------------------------------------------------------------------ whole phases

    def cold_start(self, subscriptions: Optional[dict[str, Iterable[str]]] = None) -> None:
        """StartEnvironment through a successful Init: every extension registers and parks, then the runtime."""
        subscriptions = subscriptions or {}
        self.start()
        for name in self.config.extension_names:
            self.register(name, subscriptions.get(name, BOTH))
        for name in self.config.extension_names:
            self.ext_next(name)
        assert RUNTIME in self.spawned(), "runtime was not launched"
        self.runtime_next()
        assert self.state is EnvState.FROZEN, self.state

    def complete_invoke(self, request_id: str, body: bytes = b'"ok"') -> None:
        """The runtime answers and parks again; every INVOKE-subscribed extension parks again."""
        self.respond(request_id, body)
        self.runtime_next()
        for name, slot in list(self.env.extensions.items()):
            if slot.registered and slot.subscribed("INVOKE") and slot.parked is None and slot.alive:
                self.ext_next(name)
