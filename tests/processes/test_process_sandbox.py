"""Sandbox: each environment's processes see their own directory as /tmp."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from proc_helpers import PY, REPO_ROOT, running, sh

from lambdatui.processes import LaunchError, Sandbox
from lambdatui.processes import sandbox as sandbox_module
from lambdatui.processes import namespaces
from lambdatui.processes.filesystem import FunctionFiles


@pytest.fixture
def env_tmp(tmp_path: Path) -> Path:
    path = tmp_path / "env-tmp"
    path.mkdir()
    return path


@pytest.fixture
def unique_name() -> Iterator[str]:
    name = f"lambdatui-test-{uuid.uuid4().hex}"
    yield name
    # Only reached if the sandbox leaked: do not leave litter in the real /tmp.
    Path("/tmp", name).unlink(missing_ok=True)


@pytest.fixture
def namespace(env_tmp: Path) -> Sandbox:
    """A sandbox with its own /tmp for env_tmp, else a skip saying why.

    A fixture, not a call in the test: pytest-trio re-raises a skip from inside a trio test without its reason.
    """
    sandbox = Sandbox.create(env_tmp, [PY, "/bin/sh"])
    if sandbox.mode != "mount-namespace":
        pytest.skip(f"needs a private /tmp, which this machine cannot give {PY}: {sandbox.note}")
    return sandbox


@pytest.mark.trio
async def test_namespace_mode_puts_tmp_writes_in_the_environment_dir(env_tmp: Path, namespace: Sandbox,
                                                                    unique_name: str) -> None:
    sandbox = namespace
    # A checkout cloned under /tmp is seen again in it (test_a_needed_path_under_tmp_is_seen_read_only...), and said.
    assert (sandbox.note is None) == (not sandbox.kept)
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh(f"echo hello > /tmp/{unique_name}; echo \"[$TMPDIR]\"; ls /tmp"))
            status = await rec.wait_exit(h)
    assert status.describe() == "exit status 0"
    assert (env_tmp / unique_name).read_text() == "hello\n"
    assert not Path("/tmp", unique_name).exists()
    # The child saw only its own /tmp, and no TMPDIR (Lambda sets none).
    assert rec.lines() == ["[]", *sorted([unique_name, *sandbox.kept_names])]


@pytest.mark.trio
async def test_user_namespace_keeps_the_callers_uid(env_tmp: Path, namespace: Sandbox, unique_name: str) -> None:
    # What an unprivileged user gets; as root it can be forced, which exercises
    # the uid/gid maps (mapping the caller onto itself).
    sandbox = Sandbox(tmp_dir=env_tmp, mode="mount-namespace", strategy="user-ns")
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh(f"id -u; id -g; echo hi > /tmp/{unique_name}"))
            await rec.wait_exit(h)
    assert rec.lines() == [str(os.geteuid()), str(os.getegid())]
    assert (env_tmp / unique_name).exists()
    assert not Path("/tmp", unique_name).exists()


@pytest.fixture
def folder_in_tmp() -> Iterator[Path]:
    """A folder directly in the host's /tmp, as a checkout or a virtualenv cloned there, removed after."""
    folder = Path(tempfile.mkdtemp(prefix="lambdatui-code-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.trio
async def test_a_needed_path_under_tmp_is_seen_read_only_in_a_private_tmp(env_tmp: Path, namespace: Sandbox,
                                                                         folder_in_tmp: Path) -> None:
    code = folder_in_tmp / "code"
    code.mkdir()
    (code / "data.txt").write_text("the host's\n")
    sandbox = Sandbox.create(env_tmp, [str(code), PY])
    assert sandbox.mode == "mount-namespace"
    assert str(folder_in_tmp) in sandbox.kept  # the folder directly in /tmp that holds it: what it imports too
    assert sandbox.note is not None and "\n" not in sandbox.note
    assert f"the host's {folder_in_tmp}" in sandbox.note and f"need {code}" in sandbox.note
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            h = sup.spawn(sh(f'cat {code}/data.txt; {{ echo x > {code}/new.txt; }} 2>/dev/null || echo refused; echo own > /tmp/own; '
                             'ls /tmp'))
            await rec.wait_exit(h)
    assert rec.lines() == ["the host's", "refused", *sorted(["own", *sandbox.kept_names])]
    assert not (code / "new.txt").exists()
    assert (env_tmp / "own").read_text() == "own\n" and not Path("/tmp/own").exists()
    # On the host's side, the environment's /tmp holds only where the folder sat (the debugger leaves it out).
    assert sorted(os.listdir(env_tmp)) == sorted(["own", *sandbox.kept_names])
    assert sandbox.kept_names >= {folder_in_tmp.name}


def test_only_tmp_itself_cannot_be_kept_and_then_tmp_is_shared(env_tmp: Path) -> None:
    sandbox = Sandbox.create(env_tmp, ["/tmp"])
    assert sandbox.mode == "tmpdir" and sandbox.kept == ()
    assert sandbox.note is not None and "/tmp lies under /tmp" in sandbox.note and "absolute /tmp paths" in sandbox.note


def test_paths_reaching_tmp_through_a_symlink_count(env_tmp: Path, namespace: Sandbox, folder_in_tmp: Path) -> None:
    base = "/var/tmp" if os.path.isdir("/var/tmp") else str(Path.home())
    outside = Path(tempfile.mkdtemp(prefix="lambdatui-link-", dir=base))
    try:
        link = outside / "code"
        link.symlink_to(folder_in_tmp)
        assert str(folder_in_tmp) in Sandbox.create(env_tmp, [str(link)]).kept
    finally:
        shutil.rmtree(outside)


def test_a_scripts_interpreter_under_tmp_is_kept(env_tmp: Path, code_dir: Path, namespace: Sandbox,
                                                 folder_in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A custom runtime's bootstrap names its interpreter on the #! line: the kernel execs that inside the
    # namespace, so a private /tmp alone would hide a virtualenv's python under /tmp and the runtime could not start.
    python = folder_in_tmp / "python3"
    python.symlink_to(sys.executable)
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(f"#!{python}\nprint('hi')\n")
    sandbox = Sandbox.create(env_tmp, [str(code_dir), str(bootstrap)])
    assert sandbox.mode == "mount-namespace" and str(folder_in_tmp) in sandbox.kept
    assert sandbox.note is not None and f"need {python} from there" in sandbox.note

    # `#!/usr/bin/env python3` finds it on PATH, as the child would.
    bootstrap.write_text("#!/usr/bin/env -S python3 -u\nprint('hi')\n")
    monkeypatch.setenv("PATH", f"{folder_in_tmp}:{os.environ.get('PATH', '')}")
    assert str(folder_in_tmp) in Sandbox.create(env_tmp, [str(bootstrap)]).kept
    # An interpreter outside /tmp hides nothing.
    bootstrap.write_text("#!/bin/sh\necho hi\n")
    assert sandbox_module.script_interpreters(str(bootstrap)) == ["/bin/sh"]
    assert sandbox_module.script_interpreters(str(code_dir)) == []


def test_kept_folders_are_the_entries_directly_in_tmp() -> None:
    assert sandbox_module.kept_folders(["/tmp/a/b/c", "/usr/bin/python3", "/tmp/a/d", "/tmp/f"]) == ("/tmp/a", "/tmp/f")
    assert sandbox_module.kept_folders([]) == ()
    assert sandbox_module.kept_folders(["/tmp/x", "/tmp"]) is None


def test_probe_failure_falls_back_with_the_reason(env_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespaces, "_probe_cache", {})
    monkeypatch.setattr(namespaces, "run_probe", lambda strategy, tmp_dir, **_: "unshare: Operation not permitted")
    # Not PY: in a checkout under /tmp its path, not the probe, would be the reason.
    sandbox = Sandbox.create(env_tmp, ["/bin/sh"])
    assert sandbox.mode == "tmpdir"
    assert sandbox.note is not None
    assert "unshare: Operation not permitted" in sandbox.note and "absolute /tmp paths" in sandbox.note
    assert sandbox.child_setup() is None


def test_the_probe_reports_a_real_kernel_refusal(tmp_path: Path) -> None:
    # A bind mount of a directory that does not exist fails in the child; the
    # probe must bring the child's reason back.
    reason = namespaces.run_probe("mount-ns" if os.geteuid() == 0 else "user-ns", tmp_path / "missing")
    assert reason is not None and "bind" in reason and "No such file or directory" in reason


def test_the_probe_runs_once_per_process(env_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(namespaces, "_probe_cache", {})
    monkeypatch.setattr(namespaces, "run_probe", lambda strategy, tmp_dir, **_: calls.append(strategy))
    for _ in range(3):
        assert Sandbox.create(env_tmp, []).mode == "mount-namespace"
    assert len(calls) == 1


def _code(env_tmp: Path) -> FunctionFiles:
    code = env_tmp.parent / "code"
    code.mkdir()
    (code / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    return FunctionFiles(code)


def test_one_program_answers_both_the_namespace_and_the_layout_question(env_tmp: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[object, ...]] = []
    real = namespaces.run_probe
    why_not = real("mount-ns" if os.geteuid() == 0 else "user-ns", env_tmp)
    if why_not is not None:
        pytest.skip(f"no mount namespace here: {why_not}")
    monkeypatch.setattr(namespaces, "_probe_cache", {})
    monkeypatch.setattr(namespaces, "_layout_cache", {})
    monkeypatch.setattr(namespaces, "run_probe", lambda *args, **kwargs: asked.append(args) or real(*args, **kwargs))
    sandbox = Sandbox.create(env_tmp, ["/bin/sh"], files=_code(env_tmp))
    assert sandbox.mode == "mount-namespace" and sandbox.layout is not None, sandbox
    assert len(asked) == 1, asked  # the real kernel said yes to /tmp and /var/task at once
    (_, tmp_dir, layout, _writable), = asked
    assert tmp_dir == env_tmp and layout is not None


def test_when_the_joint_probe_fails_each_question_is_asked_alone_and_keeps_its_reason(
        env_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def probe(strategy: str, tmp_dir: Path | None, layout: object = None, *_: object, **__: object) -> str | None:
        kind = "both" if tmp_dir is not None and layout is not None else "tmp" if tmp_dir is not None else "layout"
        asked.append(kind)
        return None if kind == "tmp" else "overlay: Operation not permitted"

    monkeypatch.setattr(namespaces, "_probe_cache", {})
    monkeypatch.setattr(namespaces, "_layout_cache", {})
    monkeypatch.setattr(namespaces, "run_probe", probe)
    sandbox = Sandbox.create(env_tmp, ["/bin/sh"], files=_code(env_tmp))
    assert asked == ["both", "tmp", "layout"]
    assert sandbox.mode == "mount-namespace" and sandbox.layout is None
    assert "(mounting them failed: overlay: Operation not permitted)" in (sandbox.files_note or "")


def test_a_probe_that_does_not_end_is_seen_not_to_and_one_that_does_at_once() -> None:
    stuck = subprocess.Popen(["sleep", "30"])
    try:
        assert not namespaces._ended_within(stuck, 0.05)
    finally:
        stuck.kill()
        stuck.wait()
    quick = subprocess.Popen(["true"])
    assert namespaces._ended_within(quick, 10)
    assert quick.wait() == 0


@pytest.mark.trio
async def test_sandbox_setup_failure_in_the_child_is_a_launch_error(env_tmp: Path, namespace: Sandbox) -> None:
    gone = env_tmp / "removed"
    gone.mkdir()
    sandbox = Sandbox(tmp_dir=gone, mode="mount-namespace", strategy="mount-ns" if os.geteuid() == 0 else "user-ns")
    gone.rmdir()
    with trio.fail_after(10):
        async with running(sandbox) as (sup, rec):
            with pytest.raises(LaunchError) as info:
                sup.spawn(sh("true"))
    message = str(info.value)
    assert message.startswith("cannot start /bin/sh: setup before exec failed: bind ")
    assert "No such file or directory" in message and "\n" not in message
    assert rec.events == []


@pytest.mark.trio
async def test_a_replaced_sandbox_applies_to_later_spawns(env_tmp: Path, namespace: Sandbox, tmp_path: Path,
                                                         unique_name: str) -> None:
    first = namespace
    second_dir = tmp_path / "env-tmp-2"
    second_dir.mkdir()
    second = Sandbox.create(second_dir, [PY, "/bin/sh"])
    with trio.fail_after(10):
        async with running(first) as (sup, rec):
            await rec.wait_exit(sup.spawn(sh(f"echo 1 > /tmp/{unique_name}")))
            sup.sandbox = second
            await rec.wait_exit(sup.spawn(sh(f"echo 2 > /tmp/{unique_name}")))
    assert (env_tmp / unique_name).read_text() == "1\n"
    assert (second_dir / unique_name).read_text() == "2\n"


def test_create_requires_the_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        Sandbox.create(tmp_path / "missing", [])


def test_adjust_env_returns_a_new_mapping(env_tmp: Path) -> None:
    # With a /tmp of its own, the environment is as configured: Lambda sets no TMPDIR, and the function's own TMP
    # stays its own. Without one, the temp-dir variables name the folder standing in for /tmp.
    original = {"PATH": "/bin", "TMP": "/tmp/work"}
    namespaced = Sandbox(tmp_dir=env_tmp, mode="mount-namespace", strategy="mount-ns").adjust_env(original)
    assert namespaced == original and namespaced is not original
    plain = Sandbox.tmpdir_only(env_tmp, "why").adjust_env(original)
    assert plain == {"PATH": "/bin", "TMPDIR": str(env_tmp), "TEMP": str(env_tmp), "TMP": str(env_tmp)}
    assert original == {"PATH": "/bin", "TMP": "/tmp/work"}


NOBODY = 65534

_UNPRIVILEGED_CHECK = """
import os, subprocess, sys, types
# Load the sandbox without the package's trio-importing __init__: the system
# interpreter this runs under may not have trio.
for name, path in (("lambdatui", sys.argv[1] + "/lambdatui"), ("lambdatui.processes", sys.argv[1] + "/lambdatui/processes")):
    module = types.ModuleType(name); module.__path__ = [path]; sys.modules[name] = module
from pathlib import Path
from lambdatui.processes.sandbox import Sandbox
env_tmp = Path(sys.argv[2])
sandbox = Sandbox.create(env_tmp, [sys.executable])
print(sandbox.mode, sandbox.strategy)
if sandbox.mode == "mount-namespace":
    out = subprocess.run(["/bin/sh", "-c", "id -u; echo hi > /tmp/" + sys.argv[3]],
                         preexec_fn=sandbox.child_setup(), capture_output=True, text=True, check=True)
    print(out.stdout.strip())
    # The sandbox init takes its namespaces itself, after its exec: it keeps the right to mount its PID
    # namespace's /proc, and passes no capability on.
    from lambdatui.processes.pid_namespace import InitKeeper, SandboxInit
    keeper = InitKeeper()
    init = SandboxInit(sandbox.init_plan(), keeper)
    read_end, write_end = os.pipe()
    init.spawn(["/bin/sh", "-c", "echo $$; id -u; grep CapEff /proc/self/status"], "/", dict(os.environ),
               write_end, write_end)
    os.close(write_end)
    seen = b""
    while chunk := os.read(read_end, 4096):
        seen += chunk
    print(seen.decode().strip())
    init.abandon()
    keeper.abandon()
"""


def test_unprivileged_user_gets_a_namespace_with_its_own_uid(unique_name: str) -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to become an unprivileged user")
    python = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable) if os.path.exists(p)), None)
    base = Path("/var/tmp")
    if python is None or not base.is_dir():
        pytest.skip("no interpreter or /var/tmp")
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if subprocess.run([*as_nobody, python, "-c", "pass"], capture_output=True).returncode != 0:
        pytest.skip("no interpreter an unprivileged user can run")
    work = Path(tempfile.mkdtemp(prefix="lambdatui-nobody-", dir=base))
    env_tmp = work / "tmp"  # the sandbox writes its hosts file beside its /tmp: inside `work`, not in /var/tmp
    try:
        env_tmp.mkdir()
        for path in (work, env_tmp):
            os.chown(path, NOBODY, NOBODY)
        result = subprocess.run(
            [*as_nobody, python, "-c", _UNPRIVILEGED_CHECK, str(REPO_ROOT), str(env_tmp), unique_name],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        mode, strategy, *rest = result.stdout.split()
        if mode != "mount-namespace":
            pytest.skip("unprivileged user namespaces are disabled here")
        assert strategy == "user-ns"
        assert rest == [str(NOBODY), "2", str(NOBODY), "CapEff:", "0000000000000000"]  # 2: after pid 1
        assert (env_tmp / unique_name).exists()
        assert not Path("/tmp", unique_name).exists()
    finally:
        shutil.rmtree(work)


def test_a_host_that_turns_namespaces_off_is_named_by_its_sysctl() -> None:
    """unshare's "No space left on device" is the kernel's namespace count, not a disk: the note names the sysctl.
    Inside a user namespace of its own (whose limits are its own), the test sets user.max_mnt_namespaces to 0."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here")
    script = ("echo 0 > /proc/sys/user/max_mnt_namespaces || exit 99\n"
              f"exec {PY} -m lambdatui invoke sample_functions/hello -e '{{}}'")
    done = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if done.returncode == 99 or "unshare failed" in done.stderr:
        pytest.skip(f"no user namespace with limits of its own here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert ("/tmp is not isolated: no private mount namespace here (unshare(mount namespace): No space left on "
            "device (the kernel's limit on namespaces: user.max_mnt_namespaces is 0)") in done.stderr, done.stderr
