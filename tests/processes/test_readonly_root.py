"""Only /tmp writable in the environment's mount namespace (lambda-spec §10.1): real namespaces, real remounts.

The remount list is read from mountinfo (its parsing is checked on a written example); everything else runs a real
program in a real namespace. Every folder lies in a `code_dir` (never under /tmp: the private /tmp would hide it);
nothing is written in the host's /tmp, nor left in $HOME or /etc should a write that must fail succeed.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lambdatui.processes import Sandbox, linux, namespaces
from lambdatui.processes.sandbox import kept_folders
from lambdatui.processes.filesystem import FileSystemLayout
from lambdatui.processes.readonly_root import STEP, MountPoint, mount_points, readonly_plan, to_remount
from sandbox_support import DEVICE_PROBE

STRATEGY: namespaces.Strategy = "mount-ns" if os.geteuid() == 0 else "user-ns"

WRITES = '''for path in "$@"; do
  if (echo x > "$path") 2>/dev/null; then echo "$path written"; else echo "$path refused"; fi
done
'''

MOUNTINFO = r"""22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw
30 25 0:27 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw
29 24 0:29 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
28 27 0:25 / /mnt/ro ro,nosuid,nodev,relatime - tmpfs t ro
40 27 0:40 / /tmp rw,nosuid - tmpfs tmpfs rw
41 40 0:41 / /tmp/inner rw - tmpfs tmpfs rw
42 27 0:42 / /home/you/My\040Files rw,noexec,nosymfollow - tmpfs tmpfs rw
43 27 0:43 / /home/you/state rw - tmpfs tmpfs rw
44 27 0:44 / /var rw,nodev - ext4 /dev/vdb rw
45 44 0:45 / /var/lib/docker rw - ext4 /dev/vdc rw
46 27 0:46 / /opt rw - ext4 /dev/vdd rw
47 46 0:47 / /opt/tools rw - ext4 /dev/vde rw
48 27 0:48 / /etc/hosts rw,nosuid - ext4 /dev/vdf rw
"""


def test_the_mount_points_are_read_unescaped_with_the_options_of_the_mount_on_top() -> None:
    points = {point.path: point for point in mount_points(MOUNTINFO)}
    # Two mounts on /dev/shm: the one mounted on the other is what the path reaches.
    assert points["/dev/shm"] == MountPoint("/dev/shm", linux.MS_NOSUID | linux.MS_NODEV, False)
    assert points["/home/you/My Files"].flags == linux.MS_NOEXEC | linux.MS_NOSYMFOLLOW
    assert points["/mnt/ro"].readonly and not points["/"].readonly
    assert points["/proc"].flags == linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC


def test_what_is_remounted_leaves_tmp_the_kernels_interfaces_and_lambdatuis_folders_alone() -> None:
    hosts = MountPoint("/etc/hosts", linux.MS_NODEV, False)
    chosen = to_remount(mount_points(MOUNTINFO), ["/home/you/state"], ["/etc/hosts", "/var"], ["/var/task", "/opt"],
                        [hosts])
    assert [point.path for point in chosen] == [
        "/dev",  # the host's device nodes: none may be unlinked or created (the devices stay usable)
        "/dev/shm",  # and Lambda has no /dev/shm: shm_open and sem_open fail there, and here
        "/dev/pts",
        "/dev/mqueue",
        "/",
        "/home/you/My Files",
        "/var/lib/docker",  # bound again under the layout's /var, where it is the host's, read-only
        "/etc/hosts",  # the environment's own, with the flags of the folder it is bound from
    ]
    assert chosen[3].flags == linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC  # /dev/mqueue's own, repeated
    assert chosen[-1] is hosts


def _run(argv: list[str], setup: Callable[[], None]) -> tuple[int, str, str]:
    """Run `argv` with `setup` before its exec; (status, output, the set-up's error if it raised)."""
    read_fd, write_fd = os.pipe()

    def preexec() -> None:
        try:
            setup()
        except OSError as exc:
            os.write(write_fd, linux.describe_error(exc).encode())
            raise

    try:
        done = subprocess.run(argv, preexec_fn=preexec, capture_output=True, text=True, timeout=30)
    except subprocess.SubprocessError:
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as fh:
            return -1, "", fh.read().decode()
    os.close(write_fd)
    os.close(read_fd)
    return done.returncode, done.stdout, ""


def _writes(paths: list[object], setup: Callable[[], None]) -> dict[str, str]:
    status, out, failure = _run(["/bin/sh", "-c", WRITES, "sh", *map(str, paths)], setup)
    assert status == 0, failure
    return dict(line.rsplit(" ", 1) for line in out.splitlines())


@pytest.fixture
def state(code_dir: Path) -> Path:
    """lambdatui's run folder stand-in: the environment's /tmp and hosts file in it, kept writable."""
    state = code_dir / "state"
    (state / "env" / "tmp").mkdir(parents=True)
    (state / "env" / "hosts").write_text("127.0.0.1 localhost sandbox.localdomain\n")
    if namespaces.run_probe(STRATEGY, state / "env" / "tmp", writable=[state]) is not None:
        pytest.skip("no mount namespace with a read-only root here")
    return state


@pytest.fixture
def code(code_dir: Path) -> Path:
    """The function's folder, beside `state` (not in it)."""
    (code_dir / "function").mkdir()
    return code_dir / "function"


@pytest.fixture
def outside() -> Iterator[list[Path]]:
    """Paths in $HOME and /etc the namespace must refuse: removed afterwards, should a write succeed after all."""
    paths = [Path.home() / f".lambdatui-probe-{os.getpid()}", Path(f"/etc/lambdatui-probe-{os.getpid()}")]
    yield paths
    for path in paths:
        path.unlink(missing_ok=True)


@pytest.mark.parametrize("strategy", sorted({STRATEGY, "user-ns"}))
def test_in_the_namespace_only_tmp_and_lambdatuis_folders_are_writable(state: Path, code: Path, outside: list[Path],
                                                                        strategy: namespaces.Strategy) -> None:
    if strategy == "user-ns" and namespaces.run_probe("user-ns", None, writable=[state]) is not None:
        pytest.skip("no unprivileged user namespace here (its remounts keep the flags it locks)")
    setup = namespaces.namespace_setup(strategy, state / "env" / "tmp", hosts_file=state / "env" / "hosts",
                                       writable=[state])
    home, etc = outside
    results = _writes([code / "cache.json", home, etc, "/etc/hosts", "/tmp/x", state / "stacks.txt", "/dev/null"],
                      setup)
    assert results == {f"{code}/cache.json": "refused", str(home): "refused", str(etc): "refused",
                       "/etc/hosts": "refused", "/tmp/x": "written", f"{state}/stacks.txt": "written",
                       "/dev/null": "written"}
    assert (state / "env" / "tmp" / "x").read_text() == "x\n"  # the environment's own /tmp


# Run in the namespace: the devices are used as a function uses them, then, only once the process has seen that it
# is in a mount namespace of its own (not the test's, passed as argv[1]) whose /dev is read-only, a new file is
# created in /dev and in /dev/shm. Nothing here unlinks: that is tried by a handler (tests/end_to_end).
DEVICES = DEVICE_PROBE + r'''

def pty():
    for fd in os.openpty():
        os.close(fd)


results = {"null": attempt(write_null), "urandom": attempt(lambda: read("/dev/urandom", 16)),
           "zero": attempt(lambda: read("/dev/zero", 16)), "pty": attempt(pty)}
guarded = (os.stat("/proc/self/ns/mnt").st_ino != int(sys.argv[1])
           and all(os.statvfs(path).f_flag & os.ST_RDONLY for path in ("/dev", "/dev/shm")))
for name, path in (("dev", sys.argv[2]), ("shm", sys.argv[3])):
    results[name] = attempt(lambda: create(path)) if guarded else "not tried: /dev is not read-only here"
print(results)
'''


@pytest.fixture
def in_dev() -> Iterator[tuple[str, str]]:
    """New names in /dev and /dev/shm the namespace must refuse to create: should it create them after all (in the
    host's /dev), the regular files are removed afterwards."""
    paths = (f"/dev/lambdatui-probe-{os.getpid()}", f"/dev/shm/lambdatui-probe-{os.getpid()}")
    yield paths
    for path in paths:
        if os.path.isfile(path) and not os.path.islink(path):
            os.unlink(path)


def test_in_the_namespace_dev_is_read_only_and_its_devices_stay_usable(state: Path,
                                                                       in_dev: tuple[str, str]) -> None:
    # This interpreter, in a checkout cloned under /tmp, stays in sight over the private /tmp.
    setup = namespaces.namespace_setup(STRATEGY, state / "env" / "tmp", hosts_file=state / "env" / "hosts",
                                       writable=[state], kept=kept_folders([sys.executable]) or ())
    host_namespace = os.stat("/proc/self/ns/mnt").st_ino
    status, out, failure = _run([sys.executable, "-c", DEVICES, str(host_namespace), *in_dev], setup)
    assert status == 0, failure
    # Devices are exempt from the read-only mount's check: written and read as before; nothing new is created.
    assert out.strip() == str({"null": "done", "urandom": "done", "zero": "done", "pty": "done", "dev": "EROFS",
                               "shm": "EROFS"})
    assert not any(os.path.lexists(path) for path in in_dev)


def test_the_layouts_own_mounts_end_read_only_too(state: Path, code: Path) -> None:
    layout = FileSystemLayout(code, (), state / "env" / "fs")
    setup = namespaces.namespace_setup(STRATEGY, state / "env" / "tmp", layout=layout, writable=[state])
    if _run(["/bin/true"], setup)[0] != 0:
        pytest.skip("this machine cannot lay out /var/task and /opt")
    results = _writes(["/var/task/x", "/opt/x", "/var/x", "/tmp/x"], setup)
    assert results == {"/var/task/x": "refused", "/opt/x": "refused", "/var/x": "refused", "/tmp/x": "written"}


def test_without_a_private_tmp_the_hosts_tmp_stays_writable(state: Path, code: Path) -> None:
    # The fallback where something the processes need lies under /tmp: the namespace is made, /tmp is the host's,
    # bound on itself to stay writable. Read in the namespace's mount table: nothing is written in the host's /tmp.
    setup = namespaces.namespace_setup(STRATEGY, None, writable=[state])
    status, table, failure = _run(["/bin/cat", "/proc/self/mountinfo"], setup)
    assert status == 0, failure
    points = {point.path: point for point in mount_points(table)}
    assert not points["/tmp"].readonly and points["/"].readonly, table
    assert _writes([code / "x"], setup) == {f"{code}/x": "refused"}


def _private_namespace_then(plan: list[tuple]) -> Callable[[], None]:
    """A private mount namespace (nothing mounted in it), then `plan`'s steps: never the host's own mounts."""
    return namespaces.in_child(namespaces.namespace_plan(STRATEGY, None, readonly=False) + plan)


def test_a_mount_point_that_vanished_is_skipped_and_any_other_refusal_fails_the_step(state: Path, code: Path) -> None:
    gone = MountPoint(str(code / "gone"), 0, False)  # ENOENT
    not_a_mount = MountPoint(str(code), 0, False)  # EINVAL: the folder is no mount's root
    status, _, failure = _run(["/bin/true"], _private_namespace_then(readonly_plan([], points=[gone, not_a_mount])))
    assert (status, failure) == (0, "")
    os.symlink("loop-b", code / "loop-a")
    os.symlink("loop-a", code / "loop-b")
    looping = MountPoint(str(code / "loop-a"), 0, False)
    status, _, failure = _run(["/bin/true"], _private_namespace_then(readonly_plan([], points=[looping])))
    assert status == -1
    assert failure == f"{STEP}: remount {code}/loop-a: {os.strerror(errno.ELOOP)}"


def test_a_namespace_whose_remounts_are_refused_is_kept_with_a_writable_root_and_says_why(
        state: Path, code: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A folder to keep writable that does not exist: the step fails in the real kernel, after the namespace and
    # its /tmp were made, as it would on a host that refuses the remounts.
    missing = state / "missing"
    monkeypatch.setattr(namespaces, "_probe_cache", {})
    monkeypatch.setattr(namespaces, "_writable_root", {})
    sandbox = Sandbox.create(state / "env" / "tmp", ["/bin/sh"], writable=[missing])
    try:
        assert sandbox.mode == "mount-namespace" and sandbox.strategy is not None
        assert sandbox.writable_root == (f"{STEP}: keep {os.path.realpath(missing)} writable: "
                                         f"{os.strerror(errno.ENOENT)}")
        setup = sandbox.child_setup()
        assert setup is not None
        assert _writes([code / "x", "/tmp/x"], setup) == {f"{code}/x": "written", "/tmp/x": "written"}
        assert sandbox.root_note(True) == (f"Files: the root file system stays writable ({sandbox.writable_root}): "
                                           "a write Lambda refuses with EROFS (anywhere but /tmp) succeeds here.")
    finally:
        sandbox.close()


def test_without_a_namespace_the_start_up_line_says_the_root_stays_writable(code_dir: Path) -> None:
    sandbox = Sandbox.tmpdir_only(code_dir, "/tmp is not isolated: asked for")
    try:
        assert "the root file system stays writable (no mount namespace here)" in sandbox.root_note(False)
    finally:
        sandbox.close()
