"""The /tmp viewer's controller query: a bounded part of a file, read from the environment's own /tmp and never
from outside it. Real files in a real directory (`tmp_path`), opened from a directory handle as the host opens an
environment's /tmp; and once through a real environment, whose function wrote the file it reads.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
import trio

from lambdatui import controller as c
from lambdatui.config import resolve_function
from lambdatui.host.tmp_reader import MAX_PART_BYTES, read_tmp_part, tmp_names
from lambdatui.model.tmp_file import human_size, looks_binary, part_label
from lambdatui.runner import open_environment

SECRET = "the host's own file, which no /tmp path may reach\n"


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """An environment's /tmp stand-in (`tmp_path/env`), opened as the sandbox opens it, with a secret beside it."""
    env = tmp_path / "env"
    env.mkdir()
    (tmp_path / "secret.txt").write_text(SECRET)
    fd = os.open(env, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        yield env, fd
    finally:
        os.close(fd)


class TestRefusals:
    @pytest.mark.parametrize("path", ["/tmp/../secret.txt", "../secret.txt", "/tmp/a/../../secret.txt",
                                      "/etc/passwd", "/tmp", "/tmp/"])
    def test_paths_that_leave_tmp_or_name_nothing_are_refused(self, root: tuple[Path, int], path: str) -> None:
        env, fd = root
        (env / "a").mkdir()
        view = read_tmp_part(fd, path)
        assert view.problem is not None and view.data == b""

    def test_a_link_to_a_file_outside_is_not_followed(self, root: tuple[Path, int]) -> None:
        env, fd = root
        (env / "link").symlink_to(env.parent / "secret.txt")
        view = read_tmp_part(fd, "/tmp/link")
        assert view.problem is not None and "symbolic link" in view.problem and view.data == b""

    def test_a_link_to_a_directory_outside_is_not_walked_through(self, root: tuple[Path, int]) -> None:
        env, fd = root
        (env / "up").symlink_to(env.parent)
        view = read_tmp_part(fd, "/tmp/up/secret.txt")
        assert view.problem is not None and SECRET.encode() not in view.data

    def test_a_fifo_is_not_opened_and_nothing_blocks(self, root: tuple[Path, int]) -> None:
        env, fd = root
        os.mkfifo(env / "pipe")
        view = read_tmp_part(fd, "/tmp/pipe")
        assert view.problem is not None and "not a regular file" in view.problem

    def test_a_directory_says_so(self, root: tuple[Path, int]) -> None:
        env, fd = root
        (env / "cache").mkdir()
        assert "a directory" in (read_tmp_part(fd, "/tmp/cache").problem or "")

    def test_a_vanished_file_says_it_is_gone(self, root: tuple[Path, int]) -> None:
        _, fd = root
        assert "is gone" in (read_tmp_part(fd, "/tmp/never-there.txt").problem or "")

    def test_the_directory_is_read_from_its_handle_even_when_its_path_now_leads_elsewhere(
            self, root: tuple[Path, int]) -> None:
        """User code renames its /tmp and puts a link to the host in its place: the handle still reads the original."""
        env, fd = root
        (env / "data.txt").write_text("the environment's own\n")
        env.rename(env.parent / "moved")
        env.symlink_to(env.parent)
        view = read_tmp_part(fd, "/tmp/data.txt")
        assert view.data == b"the environment's own\n"
        assert "is gone" in (read_tmp_part(fd, "/tmp/secret.txt").problem or "")


class TestParts:
    def test_a_nested_file_whole(self, root: tuple[Path, int]) -> None:
        env, fd = root
        (env / "a" / "b").mkdir(parents=True)
        (env / "a" / "b" / "c.json").write_text('{"x": 1}')
        view = read_tmp_part(fd, "/tmp/a/b/c.json")
        assert (view.data, view.size, view.offset, view.problem) == (b'{"x": 1}', 8, 0, None)
        assert part_label(view) == "the whole 8 bytes" and not view.has_more

    def test_a_2gb_sparse_file_reads_only_its_part(self, root: tuple[Path, int]) -> None:
        env, fd = root
        with open(env / "big.dat", "wb") as handle:
            handle.write(b"head")
            handle.truncate(2 * 1024 ** 3)
        first = read_tmp_part(fd, "/tmp/big.dat", 0, 256 * 1024)
        assert len(first.data) == 256 * 1024 and first.size == 2 * 1024 ** 3 and first.has_more
        assert part_label(first) == "showing the first 256 KB of 2.0 GB"
        second = read_tmp_part(fd, "/tmp/big.dat", first.end, 256 * 1024)
        assert second.offset == 256 * 1024 and part_label(second) == "showing 256 KB to 512 KB of 2.0 GB"
        huge = read_tmp_part(fd, "/tmp/big.dat", 0, 1 << 40)
        assert len(huge.data) == MAX_PART_BYTES  # whatever the caller asks for
        past = read_tmp_part(fd, "/tmp/big.dat", 3 * 1024 ** 3)
        assert past.data == b"" and past.problem is None and not past.has_more


def test_names_and_sniffing() -> None:
    assert tmp_names("/tmp/a/./b.txt") == ["a", "b.txt"] and tmp_names("x") == ["x"]
    assert looks_binary(b"\x00\x01") and looks_binary(bytes(range(128, 256)))
    assert not looks_binary("naïve text, cut mid-character: é".encode()[:-1])
    assert human_size(1536) == "1.5 KB" and human_size(12) == "12 bytes"


# ---------------------------------------------------------------------- through a real environment

HANDLER = textwrap.dedent('''
    import os, tempfile
    def handler(event, context):
        root = tempfile.gettempdir()
        os.makedirs(os.path.join(root, "out"), exist_ok=True)
        with open(os.path.join(root, "out", "report.txt"), "w") as f:
            f.write("written by the handler\\n")
        os.symlink("/etc/hostname", os.path.join(root, "out", "escape"))
        return {}
''')


@pytest.mark.trio
@pytest.mark.timeout(60)
async def test_the_session_reads_the_focused_environments_own_tmp(code_dir: Path) -> None:
    (code_dir / "handler.py").write_text(HANDLER)
    config = resolve_function(str(code_dir / "handler.py"), timeout_s=5)
    async with open_environment(config, inspect=True) as running:
        session = running.session
        with trio.fail_after(30):
            await session.settled()
            session.submit(c.Invoke(b"{}"))
            await session.settled()
        number = session.snapshot().environment_number
        view = await trio.to_thread.run_sync(session.read_tmp_file, number, "/tmp/out/report.txt")
        assert view.data == b"written by the handler\n" and view.problem is None
        escape = session.read_tmp_file(number, "/tmp/out/escape")
        assert escape.problem is not None and "symbolic link" in escape.problem
        assert session.read_tmp_file(number, "/tmp/../etc/hostname").problem is not None
        assert "gone" in (session.read_tmp_file(number + 100, "/tmp/out/report.txt").problem or "")
