"""A read's log lines as texts (facts.LogLines.read): they become LogLine objects only where one is wanted, once.

Of a 100,000-line burst the console writes the texts and the debugger keeps the newest 5,000: making every line an
object cost the host ~40 ms that nobody needed. What is made must be exactly what `read_lines` makes, and the same
object each time it is asked for (the log pane tells the lines it has taken in by identity).
"""

from __future__ import annotations

from lambdatui.model import facts as f

TEXTS = tuple(f"line {i}" for i in range(10))


def a_read(texts: tuple[str, ...] = TEXTS) -> f.LogLines:
    return f.LogLines.read(f.FUNCTION, texts, "req-1", "stderr")


def test_a_read_makes_no_line_until_asked_then_the_lines_read_lines_makes() -> None:
    read = a_read()
    assert len(read) == 10 and read.made() == ()
    assert read.lines == f.read_lines(f.FUNCTION, TEXTS, "req-1", "stderr")
    assert read == f.LogLines(f.read_lines(f.FUNCTION, TEXTS, "req-1", "stderr"))  # as one given its lines


def test_the_newest_lines_are_made_alone_and_stay_the_same_objects() -> None:
    read = a_read()
    newest = read.newest(3)
    assert [line.text for line in newest] == ["line 7", "line 8", "line 9"]
    assert read.made() == newest  # the older seven are still texts
    whole = read.lines
    assert all(a is b for a, b in zip(whole[-3:], newest))
    assert all(a is b for a, b in zip(read.lines, whole))
    assert read.newest(0) == () and read.newest(50) == whole


def test_lines_that_do_not_share_are_kept_as_given() -> None:
    lines = (f.LogLine(f.FUNCTION, "a", "r1"), f.LogLine(f.FUNCTION, "b", "r2"))
    given = f.LogLines(lines)
    assert given.source is None and given.texts == ("a", "b")
    assert given.lines is lines and given.newest(1)[0] is lines[1]


def test_kept_lines_keep_the_newest_and_never_make_a_read_pushed_out_before_it_was_looked_at() -> None:
    kept = f.KeptLines(5)
    old = a_read(("o1", "o2", "o3"))
    kept.add(old)
    kept.add(f.LogLine(f.PLATFORM, "START"))
    new = a_read(("n1", "n2", "n3", "n4"))
    kept.add(new)
    assert len(kept) == 5
    assert [line.text for line in kept] == ["START", "n1", "n2", "n3", "n4"]  # the first read pushed out whole
    assert old.made() == ()  # pushed out whole before anyone looked
    pushed = a_read(("p1", "p2"))
    kept = f.KeptLines(3)
    kept.add(pushed)
    kept.add(a_read(("q1", "q2", "q3")))
    assert [line.text for line in kept] == ["q1", "q2", "q3"]
    assert pushed.made() == ()


def test_the_newest_of_a_batch_are_made_and_the_older_counted_per_piece() -> None:
    first, single, last = a_read(("a", "b", "c")), f.LogLine(f.PLATFORM, "START"), a_read(("d", "e"))
    newest, older = f.newest_lines([first, single, last], 4)
    assert [line.text for line in newest] == ["c", "START", "d", "e"]
    assert older == [(first, 2)]
    assert first.made() == (newest[0],)  # "a" and "b" were never made
    newest, older = f.newest_lines([first, single, last], 2)
    assert [line.text for line in newest] == ["d", "e"] and older == [(first, 3), (single, 1)]
    assert f.newest_lines([first], 0) == ([], [(first, 3)])
    assert f.newest_lines([first, last], 10) == ([*first.lines, *last.lines], [])


def test_the_older_lines_are_counted_unless_taken_in_before_and_a_reads_unmade_ones_stay_unmade() -> None:
    read, single = a_read(("a", "b", "c", "d")), f.LogLine(f.PLATFORM, "START")
    taken = read.newest(2)  # "c" and "d" made and taken in; "a" and "b" never made
    seen = {id(taken[0]), id(single)}
    assert f.unseen_lines([(read, 3), (single, 1)], seen, None) == (2, 0)  # "a", "b" ("c" and START seen)
    assert f.unseen_lines([(read, 4)], set(), lambda source, request_id: source == f.FUNCTION) == (4, 4)
    assert f.unseen_lines([(read, 4)], set(), lambda source, request_id: request_id == "other") == (4, 0)
    assert read.made() == taken  # counting made nothing
