"""The execution environment's init: the processes of one environment are born in a PID namespace through it.

Run as a separate program (`python -I -S sandbox_init.py`), standard library only, in the role of Lambda's own
`/var/rapid/init`. The host's first message is the plan of its namespaces (namespace_steps.py): it takes them
itself, `unshare(CLONE_NEWPID | CLONE_NEWNS)` and the mounts, so this process stays in the host's PID namespace
while every process it forks is born in the new one (and the host, which started it with vfork, never waited):

- it waits until the host has moved it into the environment's cgroup (the host says "joined"): what it forks
  from then on is born inside.
- its first child is the namespace's pid 1, the *anchor*: it mounts the namespace's own /proc (so that a
  function reading `/proc/<os.getpid()>` reads itself) and reaps what is reparented to it (double-forked
  daemons). It exits when this process is gone, and when pid 1 ends, the kernel kills every process left in
  the namespace: nothing a function starts can outlive its environment, even with `setsid` and a double fork.
- then, on each request from the host, it forks a participant (runtime or extension) into the namespace, in
  a process group of its own, and reports its pid as the host sees it, or why it could not be started.
- it reaps its children and reports each exit status to the host (after killing the child's process group,
  while the zombie still reserves the group id, as the host's supervisor did for its own children).

Each participant gets Lambda's limit on open files (argv's third number) before it execs.

Channels (file descriptor numbers in argv): a SOCK_SEQPACKET socket for requests and their replies (spawn
requests carry the child's stdout and stderr as SCM_RIGHTS) and a pipe for "<pid> <wait status>" lines.
A parent-death signal ends this process with the host (its pid is argv's last number).
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

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_PR_SET_PDEATHSIG = 1
_DEFAULT_SIGNALS = ("SIGPIPE", "SIGXFSZ", "SIGINT", "SIGHUP", "SIGQUIT", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGCHLD")


def _anchor(alive_r: int, ready_w: int) -> None:
    """pid 1 of the namespace: mount its /proc, then reap orphans until the init (our parent) is gone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
        if libc.mount(b"proc", b"/proc", b"proc", flags, None) != 0:
            code = ctypes.get_errno()
            raise OSError(code, "mount /proc for the PID namespace: " + os.strerror(code))
        os.write(ready_w, b"ok")
    except OSError as exc:
        os.write(ready_w, (exc.strerror or str(exc)).encode("utf-8", "replace"))
        os._exit(1)
    os.close(ready_w)
    _signal.signal(_signal.SIGCHLD, lambda *_: None)  # interrupts the wait, so orphans are reaped at once
    alive = _poller(alive_r)
    while True:
        _reap_all()
        try:
            readable = alive.poll(1000)
        except InterruptedError:
            continue
        if readable and not os.read(alive_r, 1):
            os._exit(0)  # the init is gone: as pid 1 our exit takes the namespace down


def _poller(*fds):
    """poll, not select: the host passes its own descriptor numbers, which may pass select's 1024 (FD_SETSIZE)."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return poller


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(argv, cwd, env, out_fd, err_fd, failed_w, kept=None, file_limit=None):
    """Between fork and exec: the steps subprocess.Popen took for the host before (its own group, std streams)."""
    where = "limit"
    try:
        if file_limit is not None:
            _lower_file_limit(file_limit)
        where = "exec"
        if kept is not None:
            os.set_inheritable(kept, True)  # the SnapStart template's channel (its number is in env)
        for name in _DEFAULT_SIGNALS:  # ignored signals survive exec: the function must get the defaults
            _signal.signal(getattr(_signal, name), _signal.SIG_DFL)
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


def _spawn(request, fds, file_limit=None):
    """Fork one participant; the reply is ("ok", pid) or ("failed", where, errno, text)."""
    argv, cwd, env, kept_name = marshal.loads(request)
    out_fd, err_fd = fds[0], fds[1]
    kept = fds[2] if kept_name and len(fds) > 2 else None
    if kept is not None:
        env = dict(env, **{kept_name: str(kept)})
    failed_r, failed_w = os.pipe()  # close-on-exec: end of file without data means exec succeeded
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(failed_r)
        os.close(failed_w)
        return ("failed", "fork", exc.errno or errno.EAGAIN, exc.strerror or str(exc))
    if pid == 0:
        _child(argv, cwd, env, out_fd, err_fd, failed_w, kept, file_limit)
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


def _enter_namespaces(requests, libc):
    """The host's plan (its first message), carried out; then the parent-death signal, armed last, so that no
    credential change (a user namespace) can reset it. None, or why not, in one line."""
    try:
        plan = marshal.loads(requests.recv(1 << 20))
        if sys.version_info < (3, 11):
            os.setpgid(0, 0)  # Popen made its group from 3.11 on
        namespace_steps.Steps(libc, ctypes.get_errno).run(plan)
        if libc.prctl(_PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    except (OSError, ValueError, EOFError, TypeError) as exc:
        return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__
    return None


def main(argv):
    requests_fd, exits_fd = int(argv[1]), int(argv[2])
    file_limit = int(argv[3])  # for what it starts; its own descriptors are lambdatui's
    host = int(argv[4])
    for fd in (requests_fd, exits_fd):
        os.set_inheritable(fd, False)  # the host passed them inheritable; the function must not get them
    for name in ("SIGINT", "SIGHUP", "SIGQUIT", "SIGTSTP", "SIGTTIN", "SIGTTOU"):
        _signal.signal(getattr(_signal, name), _signal.SIG_IGN)
    requests = _socket.socket(fileno=requests_fd)
    refused = _enter_namespaces(requests, ctypes.CDLL(None, use_errno=True))
    if refused is not None:
        requests.send(marshal.dumps(("failed", "setup", 0, refused)))
        return 1
    if os.getppid() != host:
        return 1  # the host died before the signal was armed
    if requests.recv(64) != b"joined":
        return 1  # the host is gone, or could not move us into the environment's cgroup: it kills us
    alive_r, alive_w = os.pipe()
    ready_r, ready_w = os.pipe()
    anchor = os.fork()
    if anchor == 0:
        requests.close()
        os.close(exits_fd)
        os.close(alive_w)
        os.close(ready_r)
        _anchor(alive_r, ready_w)
    os.close(alive_r)
    os.close(ready_w)
    ready = os.read(ready_r, 4096)
    os.close(ready_r)
    if ready != b"ok":
        requests.send(marshal.dumps(("failed", "start", 0, ready.decode("utf-8", "replace") or "pid 1 ended")))
        os.waitpid(anchor, 0)  # it has exited: not left a zombie for whoever adopts it
        return 1
    requests.send(marshal.dumps(("ready", anchor)))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    _signal.set_wakeup_fd(wake_w)
    _signal.signal(_signal.SIGCHLD, lambda *_: None)
    waiting = _poller(requests_fd, wake_r)
    while True:
        if not _report_exits(anchor, exits_fd):
            return 1
        try:
            readable = {fd for fd, _ in waiting.poll()}
        except InterruptedError:
            continue
        if wake_r in readable:
            os.read(wake_r, 4096)
        if requests_fd in readable:  # POLLHUP too: the host's end closed, and recv says so
            request, fds = _recv_fds(requests, 1 << 20, 3)
            if not request:
                return 0  # the host closed its end: the environment is over
            try:
                reply = _spawn(request, fds, file_limit)
            finally:
                for fd in fds:
                    os.close(fd)
            requests.send(marshal.dumps(reply))


def program(argv):
    raise SystemExit(main(argv))


if __name__ == "__main__":
    program(sys.argv)
