"""SnapStart in the runtime: before-snapshot and after-restore hooks, and the snapshot template (spec §1.7, §4.8).

What Lambda does: after the Init of a SnapStart function, its Python runtime runs the before-snapshot hooks
registered through AWS's `snapshot_restore_py` (in reverse registration order) and calls
GET /runtime/restore/next. Lambda snapshots the whole VM while that call is pending. Every restore resumes a copy
of the snapshot in which the call answers 200; the runtime runs the after-restore hooks (in registration order)
and enters the /next loop. A failed hook (or /restore/next) before the snapshot is POST /init/error with
Runtime.BeforeSnapshotError and exit 64; a failed after-restore hook is POST /restore/error with
Runtime.AfterRestoreError and exit 65 (awslambdaric's `on_init_complete`, spec §6.7).

Without a template the sequence is the same against the host, which answers /restore/next when it restores.

The snapshot template (LAMBDATUI_SNAPSHOT_FD set): lambdatui cannot snapshot a VM, so the held process *is* the
snapshot. It sends /restore/next and never reads the answer (the pending call is the snapshot's state, as in
Lambda), then waits on the channel, an AF_UNIX SOCK_SEQPACKET socket to the host. Each restore is a fork of it:
the copy has everything Init built (the same globals, even a random value drawn during Init: that is what a
snapshot means), joins the new environment (its mount namespace, stdout/stderr, environment variables), and
carries on as that environment's runtime from /restore/next. Messages, one datagram each, UTF-8 JSON:

  host → template  {"op": "restore", "env": {NAME: VALUE or null}} + SCM_RIGHTS [stdout_w, stderr_w(, mnt_ns)]
  copy → host      {"op": "restored", "pid": <its pid>, "mount_ns": "joined" | "none" | "<error text>"}
                   or {"op": "failed", "error": "<text>"} when it could not become the environment's runtime
  template → host  {"op": "failed", "error": "<text>"}       (fork failed or the request was unreadable)
                   {"op": "exited", "pid": <pid>, "status": <raw wait status>}   (a copy, or any child, ended)

Pids in messages are as the template sees them; the host learns a copy's own pid as it sees it from the
"restored" datagram's SO_PASSCRED credentials. End of file on the channel ends the template (exit 0).

Limits of a fork against a VM snapshot: only the forking thread survives, so threads started during Init (a
background refresher, a pool's reaper) do not run in the restored copies; sockets and files opened during Init
are shared by the template and every copy rather than copied (after-restore hooks should reopen them, as AWS
asks anyway), except connections to the sandbox's own APIs, which each copy reconnects to its own environment's
(kept_connections.py); the template reaps any child of its own, including processes Init started.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import socket
import sys
from types import ModuleType

from . import codec, logs
from .client import RuntimeClient
from .errors import error_from_exception
from .kept_connections import address, move_kept_connections
from .copy_namespace import join_mount_namespace, own_tmp
from .loop import (PRIVATE_ENV_NAMES, SANDBOX_API_ENV, install_exit_hook, install_stack_dump, private_env,
                   runtime_flags)

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, MutableMapping, Optional, Tuple

HOOKS_MODULE = "snapshot_restore_py"
BEFORE_SNAPSHOT_ERROR = "Runtime.BeforeSnapshotError"
AFTER_RESTORE_ERROR = "Runtime.AfterRestoreError"
BEFORE_SNAPSHOT_EXIT = 64
AFTER_RESTORE_EXIT = 65
API_ADDRESS_NAMES = ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_METADATA_API")  # one address in every Lambda environment
CHANNEL_ENV = "LAMBDATUI_SNAPSHOT_FD"
MAX_MESSAGE_BYTES = 1 << 20  # a restore request is an environment's variables: far below this
MAX_FDS = 3  # stdout, stderr, mount namespace (and, after them, the log fd's and the "placed" pipe, where it has them)
TMP_KEY = "\0tmp"  # where parse_restore leaves the request's `tmp` (no variable can have this name)
PLACED_KEY = "\0placed"  # where it says that the request's last descriptor is its "placed" pipe
LOG_FD_KEY = "\0log_fd"  # where it says that the one before it (or the last) is the copy's telemetry log fd


def take_channel(env: Any) -> Optional[socket.socket]:
    """Pop LAMBDATUI_SNAPSHOT_FD (user code must never see it) and keep its descriptor from programs Init runs."""
    value = env.pop(CHANNEL_ENV, None)
    if value is None:
        return None
    try:
        fd = int(value)
        os.set_inheritable(fd, False)
        return socket.socket(fileno=fd)
    except (ValueError, OSError) as exc:
        logs.warn("%s=%r is not a usable socket (%s): restoring without a template" % (CHANNEL_ENV, value, exc))
        return None


def snap_start(client: RuntimeClient, channel: Optional[socket.socket]) -> RuntimeClient:
    """Between Init and the /next loop of a SnapStart function; returns the client the loop goes on with.

    A snapshot template returns only in its restored copies, each with a client of its own environment.
    """
    hooks: Optional[ModuleType] = None
    try:
        hooks = _hooks_module()
        run_before_snapshot(hooks)
        if channel is None:
            client.restore_next()
        else:
            client.send_restore_next()
    except BaseException as exc:  # awslambdaric catches everything here, sys.exit() in a hook included
        _fail(exc, lambda body: client.post_init_error(body, BEFORE_SNAPSHOT_ERROR), BEFORE_SNAPSHOT_EXIT)
    if channel is not None:
        client = serve_as_template(client, channel)
        try:
            client.restore_next()  # the new environment answers it at once
        except BaseException as exc:
            _fail(exc, lambda body: client.post_init_error(body, BEFORE_SNAPSHOT_ERROR), BEFORE_SNAPSHOT_EXIT)
    try:
        run_after_restore(hooks)
    except BaseException as exc:
        _fail(exc, lambda body: client.post_restore_error(body, AFTER_RESTORE_ERROR), AFTER_RESTORE_EXIT)
    return client


# -- hooks -------------------------------------------------------------------------------------------------


def _hooks_module() -> Optional[ModuleType]:
    """The user's snapshot_restore_py (imported by name: it is their package, not ours); None: no hooks.

    Only its absence means "no hooks"; a copy that is there but fails to import is a hook failure.
    """
    try:
        return importlib.import_module(HOOKS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != HOOKS_MODULE:
            raise
        return None


def run_before_snapshot(hooks: Optional[ModuleType]) -> None:
    """Last registered runs first: a hook undoes what was set up after it."""
    if hooks is None:
        return
    for func, args, kwargs in reversed(list(hooks.get_before_snapshot())):
        func(*args, **kwargs)


def run_after_restore(hooks: Optional[ModuleType]) -> None:
    """In registration order; a hook registered by a hook runs too (the registry is read as it grows)."""
    if hooks is None:
        return
    for func, args, kwargs in hooks.get_after_restore():
        func(*args, **kwargs)


def _fail(exc: BaseException, post: Callable[[bytes], int], exit_code: int) -> None:
    """Log the error as awslambdaric does, post it, and exit with the hook failure's status."""
    error = error_from_exception(exc)
    logs.log_error(error, codec.to_json)
    logs.flush_all()
    post(codec.to_json(error).encode("utf-8", "replace"))
    sys.exit(exit_code)


# -- the snapshot template -----------------------------------------------------------------------------------


def serve_as_template(client: RuntimeClient, channel: socket.socket) -> RuntimeClient:
    """Fork a restored copy for each restore request and report how the copies end.

    Returns only in a restored copy (with its environment's client); the template exits 0 when the host closes
    the channel. SIGCHLD only wakes the poll (set_wakeup_fd): the reaping happens here, not in a handler.
    """
    wake_r, wake_w = os.pipe()  # not inherited by programs: os.pipe() fds are non-inheritable
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)  # set_wakeup_fd requires it: a full pipe must not block the signal
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, _wake_only)
    waiting = select.poll()  # not select: no descriptor number is too high for it (select stops at 1024)
    for fd in (channel.fileno(), wake_r):
        waiting.register(fd, select.POLLIN)
    while True:
        _report_exits(channel)
        try:
            readable = {fd for fd, _ in waiting.poll()}
        except InterruptedError:  # PEP 475 retries poll itself; kept for a handler that raises it
            continue
        if wake_r in readable:
            _drain(wake_r)
        if channel.fileno() not in readable:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE_BYTES, MAX_FDS + 2)
        except OSError:  # the host's end is broken: as gone as a closed one
            data, fds = b"", []
        if not data:
            _close_all(fds)
            logs.flush_all()
            os._exit(0)  # the host discarded the snapshot: no atexit of user code, as no snapshot runs any
        try:
            env = parse_restore(data, len(fds))
        except ValueError as exc:
            _close_all(fds)
            _send(channel, {"op": "failed", "error": str(exc)})
            continue
        logs.flush_all()  # nothing written before the fork may come out twice
        random_state = _random_state()
        try:
            pid = os.fork()
        except OSError as exc:
            _close_all(fds)
            _send(channel, {"op": "failed", "error": "fork: %s" % (exc.strerror or exc)})
            continue
        if pid:
            _close_all(fds)
            continue
        _resume_random_state(random_state)
        return _become_restored(client, channel, env, fds, (wake_r, wake_w))


def _random_state() -> Any:
    """The global `random` generator's state, when Init imported the module: part of the snapshot's memory."""
    module = sys.modules.get("random")
    return module.getstate() if module is not None else None


def _resume_random_state(state: Any) -> None:
    """In a copy: CPython's `random` reseeds itself after a fork (os.register_at_fork); a restored VM resumes the
    snapshot's generator instead, so that every environment restored from it draws the same numbers (the
    uniqueness trap of lambda-spec §4.8, which an after-restore hook calling random.seed() avoids)."""
    module = sys.modules.get("random")
    if module is not None and state is not None:
        module.setstate(state)


def parse_restore(data: bytes, fd_count: int) -> Dict[str, Optional[str]]:
    """The `env` of a restore request (its `tmp`, if any, under the key TMP_KEY); ValueError says what is wrong
    with one."""
    try:
        message = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ValueError("a restore request is one JSON object: %s" % exc) from None
    if not isinstance(message, dict) or message.get("op") != "restore":
        raise ValueError("not a restore request: %r" % (data[:200],))
    env = message.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in env.items()
    ):
        raise ValueError("a restore request's env maps names to strings or null")
    placed = message.get("placed") is True
    log_fd = message.get("log_fd") is True
    extra = placed + log_fd
    if fd_count - extra not in (2, MAX_FDS):  # its log fd and "placed" pipe, when it says it has them, come last
        raise ValueError("a restore request carries %d or %d descriptors, not %d" % (2 + extra, MAX_FDS + extra,
                                                                                    fd_count))
    tmp = message.get("tmp")
    if tmp is not None and not isinstance(tmp, str):
        raise ValueError("a restore request's tmp is a path or null")
    if tmp or placed or log_fd:
        env = dict(env)
    if tmp:
        env[TMP_KEY] = tmp
    if placed:
        env[PLACED_KEY] = "1"
    if log_fd:
        env[LOG_FD_KEY] = "1"
    return env


def _become_restored(client: RuntimeClient, channel: socket.socket, env: Dict[str, Optional[str]],
                     fds: List[int], wake: Tuple[int, int]) -> RuntimeClient:
    """In the forked copy: leave the template's role, join the new environment, say so, and go on as its runtime."""
    restored = False
    try:
        signal.set_wakeup_fd(-1)  # before closing the pipe: a signal must not write into a reused fd
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in wake:
            os.close(fd)
        os.setpgid(0, 0)  # the host signals an environment's runtime as a group, never the template's
        placed = fds.pop() if env.pop(PLACED_KEY, None) else None
        log_fd = fds.pop() if env.pop(LOG_FD_KEY, None) else None
        tmp = env.pop(TMP_KEY, None)
        if len(fds) == MAX_FDS:
            mount_ns = join_mount_namespace(fds[2])
        elif tmp:
            mount_ns = own_tmp(tmp)
        else:
            mount_ns = "none"
        _redirect_stdio(fds[0], fds[1])
        if log_fd is not None:
            logs.replace_log_fd(log_fd)  # the environment's own, where the snapshot's was
        moves = {}  # the snapshot environment's API addresses -> the copy's own
        for name in API_ADDRESS_NAMES:
            snapshot_at, own_at = address(os.environ.get(name)), address(env.get(name))
            if snapshot_at is not None and own_at is not None and snapshot_at != own_at:
                moves[snapshot_at] = own_at
        copy_api = env.get("AWS_LAMBDA_RUNTIME_API")
        if copy_api:
            # The host names the copy's Runtime API as its own server (a copy is not started through an exec
            # wrapper): the private calls go there too, unless the request names the host's address itself.
            private_env[SANDBOX_API_ENV] = copy_api
        for name, value in env.items():
            # The host's settings go where loop.main put them, out of the function's sight.
            target: MutableMapping[str, str] = private_env if name in PRIVATE_ENV_NAMES else os.environ
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
        install_stack_dump(private_env.get("LAMBDATUI_STACK_FILE"))
        install_exit_hook(private_env.get("LAMBDATUI_EXIT_FILE"))
        tempfile = sys.modules.get("tempfile")
        if tempfile is not None:
            tempfile.tempdir = None  # type: ignore[attr-defined]  # re-read TMPDIR: the environment's own
        restored_message = {"op": "restored", "pid": os.getpid(), "mount_ns": mount_ns}
        channel.send(json.dumps(restored_message).encode("utf-8"))  # a host that is gone: exit 1 below
        restored = True
        channel.close()
        client.close()  # close, never shutdown: the template's pending /restore/next shares that connection
        if placed is not None:
            # Until the host has moved this process into its environment's cgroup (it closes the pipe then), it is
            # still in the snapshot's: a process forked meanwhile (a daemon) would stay there, out of its own
            # environment's reach, and outlive the environment's reset.
            while os.read(placed, 64):
                pass
            os.close(placed)
        # Made once placed, so that each new connection is born in the copy's cgroup (its server's quick admission).
        move_kept_connections(moves)
        return RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"], private=runtime_flags(private_env)[0],
                             sandbox_api=private_env.get(SANDBOX_API_ENV))
    except BaseException as exc:  # this process must never fall back into the template's loop
        text = "%s: %s" % (type(exc).__name__, exc)
        if not restored:
            try:
                channel.send(json.dumps({"op": "failed", "error": text}).encode("utf-8"))
            except OSError:
                pass
        logs.warn("restore failed: " + text)
        logs.flush_all()
        os._exit(1)


def _redirect_stdio(out_fd: int, err_fd: int) -> None:
    """The environment's pipes become stdout/stderr; stdin reads nothing, as for any runtime lambdatui starts."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    for fd in {null, out_fd, err_fd} - {0, 1, 2}:
        os.close(fd)


def _report_exits(channel: socket.socket) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(channel, {"op": "exited", "pid": pid, "status": status, "peak_kb": usage.ru_maxrss})


def _send(channel: socket.socket, message: Dict[str, Any]) -> None:
    """One datagram to the host; a host that is gone ends the template as end of file does."""
    try:
        channel.send(json.dumps(message).encode("utf-8"))
    except OSError:
        logs.flush_all()
        os._exit(0)


def _close_all(fds: List[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _wake_only(signum: int, frame: Any) -> None:
    """A Python-level handler, so that SIGCHLD is not ignored; set_wakeup_fd wakes the poll."""
