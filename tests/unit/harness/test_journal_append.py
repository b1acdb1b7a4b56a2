"""The results journal takes appends from several processes at once (``hmipv6ct run -n N``) without tearing
a line."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from harness import results


def _append(run_dir: str, worker: int, count: int) -> None:
    journal = results.Journal(Path(run_dir))
    for i in range(count):
        journal.write({"worker": worker, "i": i, "padding": "x" * 20_000})  # larger than a pipe or stdio buffer
    journal.close()


def test_concurrent_appends_keep_every_line_whole(tmp_path: Path) -> None:
    workers, count = 4, 60
    procs = [multiprocessing.get_context("fork").Process(target=_append, args=(str(tmp_path), w, count))
             for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    lines = (tmp_path / results.JOURNAL).read_text().splitlines()
    assert len(lines) == workers * count
    entries = results.read_journal(tmp_path)
    assert len(entries) == workers * count, "a torn line would not parse"
    assert sorted((e["worker"], e["i"]) for e in entries) == [(w, i) for w in range(workers) for i in range(count)]


def test_timings_journal_is_separate(tmp_path: Path) -> None:
    results.Journal(tmp_path, results.TIMINGS).write({"wall": 1.0})
    assert results.read_journal(tmp_path) == []
    assert results.read_journal(tmp_path, results.TIMINGS) == [{"wall": 1.0}]
