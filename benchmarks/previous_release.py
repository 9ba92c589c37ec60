"""lambdatui as issue 9 found it, run beside today's where a peer is missing (or on request).

Issue 9 asks compare.py for lambdatui's previous release's figures when neither RIE nor python-lambda-local is
there. That release is in this checkout's own history: the last commit before issue 9's work. Its `lambdatui`
package is extracted with `git archive` into the benchmark's scratch folder, its bytecode compiled (as an install
leaves it), and it is run from there by this interpreter, which has all it needs (trio, quart-trio with hypercorn,
textual, pygments). It is measured in the same run as today's code, launch after launch, so its ratios mean what
the peers' do. Nothing of it is kept: the scratch folder goes with the run.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

from harness import ROOT

COMMIT = "07b9fb147cb2694e00f87b1e5799d9820b677ab7"  # 2026-11-30, "README: benchmark figures measured in this session"
LABEL = f"lambdatui {COMMIT[:7]}"
# `python -c LAUNCH FOLDER ARGS...`: the extracted package first on sys.path, then its own CLI, as `lambdatui ARGS...`.
LAUNCH = ("import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'lambdatui'; "
          "from lambdatui.cli import main; sys.exit(main())")


def previous_release(work: Path) -> tuple[list[str] | None, str]:
    """The command that runs the previous release, extracted under `work`; or None, and why not."""
    why = unavailable()
    if why:
        return None, why
    folder = work / "previous-release"
    folder.mkdir()
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", COMMIT, "lambdatui"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert archive.stdout is not None and archive.stderr is not None
    failure: Exception | None = None
    try:
        with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
            tar.extractall(folder, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    except (tarfile.TarError, OSError) as exc:
        failure = exc
        archive.kill()  # it may still be writing what nobody reads
    except BaseException:  # interrupted: git must not outlive the run
        archive.kill()
        archive.wait()
        raise
    error = archive.stderr.read().decode(errors="replace").strip()
    archive.stdout.close()
    archive.stderr.close()
    if archive.wait() != 0 or failure is not None:
        return None, f"git archive {COMMIT[:7]} failed: {error or failure}"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder / "lambdatui")], check=True,
                   stdout=subprocess.DEVNULL)
    return [sys.executable, "-c", LAUNCH, str(folder)], ""


def git(*argv: str) -> subprocess.CompletedProcess[str]:
    """`git ARGV...` in this checkout; without git, a failure (127) that says so."""
    try:
        return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(["git", *argv], 127, "", "git is not installed")


def unavailable() -> str:
    """Why the previous release cannot be read from this checkout, or "" when it can."""
    if git("rev-parse", "--git-dir").returncode != 0:
        return ("this copy of lambdatui is not a git checkout (or git is not installed): there is no history to "
                "take it from")
    if git("cat-file", "-e", f"{COMMIT}^{{commit}}").returncode != 0:
        return (f"commit {COMMIT[:7]} is not in this checkout's history (a shallow clone? `git fetch --unshallow` "
                "brings it)")
    probe = git("cat-file", "-p", f"{COMMIT}:lambdatui/__init__.py")
    if probe.returncode != 0:  # a partial clone whose remote cannot give the files
        return f"the files of commit {COMMIT[:7]} cannot be read: {probe.stderr.strip()}"
    return ""
