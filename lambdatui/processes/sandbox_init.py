"""The execution environment's init: the processes of one environment are born in a PID namespace through it.

Run as a separate program (`python -I -S sandbox_init.py`), standard library only, in the role of Lambda's own
`/var/rapid/init`. It lives as long as the environment's cgroup, across its resets, in two parts:

- the *keeper*, this program as started: it stays in the host's namespaces and waits until the host has moved it
  into the environment's cgroup (the host says "joined"). Then, for each of the environment's lives (its first
  Init, and each reset's), the host sends the plan of its namespaces (namespace_steps.py) and the keeper forks a
  *generation* init for it. A fork of a process already inside is born inside: a reset's init needs no move
  into the cgroup (a process's first move waits for an RCU grace period, ~16 ms here) and no interpreter boot.
- the generation takes the plan's steps itself, `unshare(CLONE_NEWPID | CLONE_NEWNS)` and the mounts, so that
  it stays in the host's PID namespace while every process it forks is born in the new one. Its first child is
  the namespace's pid 1, the *anchor*: it mounts the namespace's own /proc (so that a function reading
  `/proc/<os.getpid()>` reads itself) and reaps what is reparented to it (double-forked daemons). It exits
  when the generation is gone, and when pid 1 ends, the kernel kills every process left in the namespace:
  nothing a function starts can outlive its environment, even with `setsid` and a double fork.
- then, on each request from the host, the generation forks a participant (runtime or extension) into the
  namespace, in a process group of its own, and reports its pid as the host sees it, or why it could not be
  started; it reaps its children and reports each exit status to the host (after killing the child's process
  group, while the zombie still reserves the group id).

Each participant gets Lambda's limit on open files (argv's second number) before it execs, and every signal at its
default action, none blocked, as Lambda's init starts them (child_signals.py): the keeper clears what it was
started with that its forks keep (the mask, the signals Python cannot see), each participant what Python's table
says is ignored or handled.

Channels: the keeper's is a SOCK_SEQPACKET socket (its descriptor number in argv); each generation request carries
the generation's own as SCM_RIGHTS: a SOCK_SEQPACKET socket for its requests and replies (spawn requests carry
the child's stdout and stderr), a pipe for "<pid> <wait status>" lines, and its stderr. A parent-death signal
ends the keeper with the host (its pid is argv's last number), and each generation with the keeper.
"""

# `signal` and `socket` as their C modules: the Python ones import enum and selectors, ~40 % of this program's start
# (6 ms of ~15 on a quiet machine, on every environment's way up) for names and wrappers it does not use.
import _signal
import _socket
import array
import ctypes
import errno
import marshal
import os
import resource
import select
import sys
import time

import namespace_steps  # beside this file (stdlib_program.py puts its folder on the path)
import child_signals
from child_signals import on_child_exits

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_JOINED = b"joined"  # the host's word: the keeper is in the environment's cgroup
_PROCS_FD = 255  # where the keeper keeps the function cgroup's cgroup.procs (main)
_function_procs = -1  # _PROCS_FD once main has it: every participant forked from here on writes "0" to it


def _anchor(alive_r: int, ready_w: int, libc) -> None:
    """pid 1 of the namespace: mount its /proc, then reap orphans until the init (our parent) is gone."""
    try:
        flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
        if libc.mount(b"proc", b"/proc", b"proc", flags, None) != 0:
            code = ctypes.get_errno()
            raise OSError(code, "mount /proc for the PID namespace: " + os.strerror(code))
        os.write(ready_w, b"ok")
    except OSError as exc:
        os.write(ready_w, (exc.strerror or str(exc)).encode("utf-8", "replace"))
        os._exit(1)
    os.close(ready_w)
    # A child's exit wakes the wait through a pipe, so orphans are reaped at once: a handler alone would not, since
    # Python retries a poll its handler interrupted (PEP 475) until the timeout.
    waiting, wake_r, _ = _woken_by_children(alive_r)
    while True:
        _reap_all()
        try:
            readable = {fd for fd, _ in waiting.poll(1000)}
        except InterruptedError:
            continue
        if wake_r in readable:
            os.read(wake_r, 4096)
        if alive_r in readable and not os.read(alive_r, 1):
            os._exit(0)  # the init is gone: as pid 1 our exit takes the namespace down


def _poller(*fds):
    """poll, not select: the host passes its own descriptor numbers, which may pass select's 1024 (FD_SETSIZE)."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return poller


def _woken_by_children(requests_fd):
    """A poll on the requests that a child's exit (SIGCHLD, through a wake-up pipe) interrupts too: (the poll, the
    pipe's read end, its write end)."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    _signal.set_wakeup_fd(wake_w)
    on_child_exits(lambda *_: None)  # a stop or a continue (the host's freeze and thaw) wakes nobody
    return _poller(requests_fd, wake_r), wake_r, wake_w


def _request_ready(waiting, wake_r, requests_fd):
    """Wait for a request or a child's exit; whether a request (or the host's hang-up, which recv says) is in."""
    try:
        readable = {fd for fd, _ in waiting.poll()}
    except InterruptedError:
        return False
    if wake_r in readable:
        os.read(wake_r, 4096)
    return requests_fd in readable


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(argv, cwd, env, out_fd, err_fd, failed_w, kept=(), file_limit=None, to_default=()):
    """Between fork and exec: into the function's cgroup (`_function_procs`, where there is one), the steps
    subprocess.Popen took for the host before (its own group, std streams), and the default action for the signals
    `to_default` (ignored ones survive exec: the init's own, and those it got)."""
    if _function_procs >= 0:
        try:
            os.write(_function_procs, b"0")  # first: whatever it starts is born there too
        except OSError:
            pass  # it stays in the environment's cgroup, which the host then freezes whole (check_joined)
        os.close(_function_procs)
    where = "limit"
    try:
        if file_limit is not None:
            _lower_file_limit(file_limit)
        where = "exec"
        for fd in kept:
            os.set_inheritable(fd, True)  # the telemetry log fd, the SnapStart template's channel (numbers in env)
        child_signals.to_default(to_default)
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in {null, out_fd, err_fd} - {0, 1, 2}:
            os.close(fd)
        where = "cwd"
        os.chdir(cwd)
        where = "exec"
        os.execvpe(argv[0], argv, env)
    except BaseException as exc:
        code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EINVAL
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        os.write(failed_w, marshal.dumps((where, code, text)))
    os._exit(127)


def _lower_file_limit(limit):
    """Lambda's descriptors a process (RLIMIT_NOFILE, soft and hard); a lower limit the host runs under stays."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = tuple(limit if value == resource.RLIM_INFINITY or value > limit else value for value in (soft, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, lowered)


def _spawn(request, fds, file_limit=None, to_default=()):
    """Fork one participant; the reply is ("ok", pid) or ("failed", where, errno, text)."""
    argv, cwd, env, kept_names = marshal.loads(request)
    out_fd, err_fd = fds[0], fds[1]
    kept = tuple(fds[2:2 + len(kept_names)])
    env = dict(env, **{name: str(fd) for name, fd in zip(kept_names, kept)})
    failed_r, failed_w = os.pipe()  # close-on-exec: end of file without data means exec succeeded
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(failed_r)
        os.close(failed_w)
        return ("failed", "fork", exc.errno or errno.EAGAIN, exc.strerror or str(exc))
    if pid == 0:
        _child(argv, cwd, env, out_fd, err_fd, failed_w, kept, file_limit, to_default)
    os.close(failed_w)
    chunks = []
    while True:
        chunk = os.read(failed_r, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(failed_r)
    if chunks:
        os.waitpid(pid, 0)
        where, code, text = marshal.loads(b"".join(chunks))
        return ("failed", where, code, text)
    return ("ok", pid)


def _recv_fds(sock, size, most):
    """A message and the descriptors it carries (SCM_RIGHTS), as socket.recv_fds gives them."""
    fds = array.array("i")
    message, ancillary, _, _ = sock.recvmsg(size, _socket.CMSG_LEN(most * fds.itemsize))
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    return message, list(fds)


def _report_exits(anchor, exits_fd):
    """Report every child that has exited; returns False once the anchor is gone (the namespace is dead)."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        if info is None:
            return True
        pid = info.si_pid
        if pid != anchor:
            try:
                os.killpg(pid, _signal.SIGKILL)  # what it left in its group must not outlive it
            except OSError:
                pass
        _, status, usage = os.wait4(pid, 0)
        if pid == anchor:
            return False
        # When: the host may hear it late. Its peak memory (KiB): /proc knows it no longer.
        os.write(exits_fd, b"%d %d %d %d\n" % (pid, status, time.monotonic_ns(), usage.ru_maxrss))


def _enter_namespaces(plan, libc, keeper):
    """The host's plan, carried out; then the parent-death signal, armed last, so that no credential change (a user
    namespace) can reset it. None, or why not, in one line."""
    try:
        namespace_steps.Steps(libc, ctypes.get_errno).run(plan)
        if libc.prctl(_PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    except (OSError, ValueError, EOFError, TypeError) as exc:
        return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__
    if os.getppid() != keeper:
        return "the keeper ended before the parent-death signal was armed"
    return None


def _generation(requests, plan, exits_fd, file_limit, keeper, libc):
    """One life of the environment (a fork of the keeper): its namespaces, its pid 1, then its participants' spawns
    on `requests`, until the host closes its end or kills it. Returns the exit code."""
    refused = _enter_namespaces(plan, libc, keeper)
    if refused is not None:
        requests.send(marshal.dumps(("failed", "setup", 0, refused)))
        return 1
    alive_r, alive_w = os.pipe()
    ready_r, ready_w = os.pipe()
    anchor = os.fork()
    if anchor == 0:
        requests.close()
        os.close(exits_fd)
        os.close(alive_w)
        os.close(ready_r)
        _anchor(alive_r, ready_w, libc)
    os.close(alive_r)
    os.close(ready_w)
    ready = os.read(ready_r, 4096)
    os.close(ready_r)
    if ready != b"ok":
        requests.send(marshal.dumps(("failed", "start", 0, ready.decode("utf-8", "replace") or "pid 1 ended")))
        os.waitpid(anchor, 0)  # it has exited: not left a zombie for whoever adopts it
        return 1
    requests.send(marshal.dumps(("ready", anchor, os.getpid())))
    requests_fd = requests.fileno()
    waiting, wake_r, _ = _woken_by_children(requests_fd)  # its own: the keeper's, inherited, is the keeper's to read
    to_default = child_signals.not_at_default()  # once: no handler changes from here on
    while True:
        if not _report_exits(anchor, exits_fd):
            return 1
        if _request_ready(waiting, wake_r, requests_fd):
            request, fds = _recv_fds(requests, 1 << 20, 4)
            if not request:
                return 0  # the host closed its end: the environment is over
            try:
                reply = _spawn(request, fds, file_limit, to_default)
            finally:
                for fd in fds:
                    os.close(fd)
            requests.send(marshal.dumps(reply))


def _fork(channel_fd):
    """os.fork(); where it fails, the generation's channel says why (and -1)."""
    try:
        return os.fork()
    except OSError as exc:
        try:
            _socket.socket(fileno=os.dup(channel_fd)).send(
                marshal.dumps(("failed", "fork", exc.errno or errno.EAGAIN, exc.strerror or str(exc))))
        except OSError:
            pass
        return -1


def _fork_generation(keeper_socket, plan, fds, file_limit, wake, libc):
    """Fork a generation for `plan`; `fds` are its channel, its exits' pipe and its stderr (closed here)."""
    channel_fd, exits_fd, err_fd = fds
    for fd in fds:
        os.set_inheritable(fd, False)  # as SCM_RIGHTS gave them they are: the function must not get them
    # The keeper's pid, taken before the fork: the child's getppid() would be 1 where the keeper died in between, and
    # the check after the parent-death signal (armed then for nobody) would pass.
    keeper = os.getpid()
    hung_up = select.POLLHUP | select.POLLERR
    if any(events & hung_up for _, events in _poller(channel_fd).poll(0)):
        pid = -1  # the host ended that life before it began (a reset while the keeper was still moving in)
    else:
        pid = _fork(channel_fd)
    if pid == 0:
        code = 1
        try:
            keeper_socket.close()  # the host hears the keeper's end by its closing: no generation may hold it
            _signal.set_wakeup_fd(-1)
            for fd in wake:
                os.close(fd)
            os.dup2(err_fd, 2)
            os.close(err_fd)
            code = _generation(_socket.socket(fileno=channel_fd), plan, exits_fd, file_limit, keeper, libc)
        except BaseException as exc:  # its stderr is the host's pipe: the reason, for the host's message
            os.write(2, ("%s: %s\n" % (type(exc).__name__, exc)).encode("utf-8", "replace"))
        os._exit(code)
    for fd in fds:
        os.close(fd)


def main(argv):
    global _function_procs
    # The host's pid last: what looks for a host's keepers finds it there.
    requests_fd, file_limit, procs_fd, host = int(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
    os.set_inheritable(requests_fd, False)  # the host passed it inheritable; the function must not get it
    if procs_fd >= 0:
        # Out of the way: at the number the host passed it, it would shift those a generation receives, and so the
        # numbers the function's descriptors get (with and without the host's early start, unlike each other).
        os.dup2(procs_fd, _PROCS_FD, inheritable=False)
        os.close(procs_fd)
        _function_procs = _PROCS_FD
    for name in ("SIGINT", "SIGHUP", "SIGQUIT", "SIGTSTP", "SIGTTIN", "SIGTTOU"):
        _signal.signal(getattr(_signal, name), _signal.SIG_IGN)
    if sys.version_info < (3, 11):
        os.setpgid(0, 0)  # Popen made its group from 3.11 on
    # Made once, here: each generation and its pid 1 are forks of this process, on a crash's way to the next Init.
    libc = ctypes.CDLL(None, use_errno=True)
    # What its forks keep of what it was started with, cleared once here (the rest: _child).
    child_signals.unblock_all()
    syscall = getattr(libc, "syscall", None)
    child_signals.unseen_to_default(syscall, child_signals.ignored_unseen(syscall))()
    for name in ("mount", "unshare"):
        getattr(libc, name)  # looked up now: ctypes makes a function's object on its first use, in each fork again
    if libc.prctl(_PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0) != 0:
        return 1
    # A life's pid 1 outlives its init by a moment (the host kills the init first, or it ends as the host closes its
    # channel): adopted here, it is reaped with the keeper's other children, not left a zombie of the host's.
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if os.getppid() != host:
        return 1  # the host died before the signal was armed
    requests = _socket.socket(fileno=requests_fd)
    waiting, wake_r, wake_w = _woken_by_children(requests_fd)
    joined = False  # until then nothing is forked: its children must be born in the environment's cgroup
    pending = []
    while True:
        _reap_all()
        if not _request_ready(waiting, wake_r, requests_fd):
            continue
        message, fds = _recv_fds(requests, 1 << 20, 3)
        if not message:
            return 0  # the host closed its end (or is gone): the environment is over, and its generations end with us
        if message == _JOINED:
            joined = True
        elif len(fds) == 3:
            pending.append((marshal.loads(message), fds))
        else:
            for fd in fds:
                os.close(fd)
        while joined and pending:
            plan, fds = pending.pop(0)
            _fork_generation(requests, plan, fds, file_limit, (wake_r, wake_w), libc)


def program(argv):
    raise SystemExit(main(argv))


if __name__ == "__main__":
    program(sys.argv)
