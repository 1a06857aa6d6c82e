"""bench/repeat.py, the runner behind docs/benchmark-runs.md: it reads every RESULT line, reports the
median and range over runs, and a stopped series continues without running anything twice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import repeat  # noqa: E402

# a benchmark whose n-th run prints n (counted in a file beside it), and one that fails
COUNTING = """
import sys
from pathlib import Path
count = Path(__file__).with_suffix(".count")
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
print("some table")
print(f"RESULT speedup {n * 1.5} goal >=2")
print(f"RESULT wall_seconds {10 * n}")
"""


@pytest.fixture
def suite(tmp_path, monkeypatch):
    (tmp_path / "counting.py").write_text(COUNTING)
    (tmp_path / "broken.py").write_text("raise SystemExit('no data here')\n")
    monkeypatch.setattr(repeat, "HERE", tmp_path)
    monkeypatch.setattr(repeat, "SUITE", {"1": ["counting.py"], "2": ["broken.py"]})
    return tmp_path


def run(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["repeat.py", *args])
    return repeat.main()


def test_results_reads_each_result_line_and_nothing_else():
    out = "a table\nRESULT ratio 1.02 goal <=1.10\nRESULT wall_seconds 311\nRESULTS are in\n"
    assert repeat.results(out) == {"ratio": 1.02, "wall_seconds": 311.0}


def test_median_and_range_of_every_number_and_a_stopped_series_continues(suite, monkeypatch):
    record, out = suite / "record.json", suite / "runs.md"
    assert run(monkeypatch, "--runs", "2", "--only", "1", "--record", str(record), "--out", str(out)) == 0
    assert [r["results"]["speedup"] for r in json.loads(record.read_text())] == [1.5, 3.0]

    # a third round adds one run; the two done are not run again
    assert run(monkeypatch, "--runs", "3", "--only", "1", "--record", str(record), "--out", str(out)) == 0
    runs = json.loads(record.read_text())
    assert [r["results"]["wall_seconds"] for r in runs] == [10.0, 20.0, 30.0]
    assert all(isinstance(r["load_before"], float) for r in runs)
    table = out.read_text()
    assert "| `speedup` | **3** | 1.5 to 4.5 | 3 |" in table
    assert "| `wall_seconds` | **20** | 10 to 30 | 3 |" in table


def test_a_failing_benchmark_is_recorded_with_its_error_and_the_series_exits_1(suite, monkeypatch):
    record = suite / "record.json"
    assert run(monkeypatch, "--runs", "1", "--record", str(record)) == 1
    by_bench = {r["bench"]: r for r in json.loads(record.read_text())}
    assert "no data here" in by_bench["2"]["error"] and "error" not in by_bench["1"]


def test_an_unknown_benchmark_is_one_line_naming_what_is_allowed(suite, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_:
        run(monkeypatch, "--only", "1,5")
    assert exit_.value.code == 2
    assert "--only=1,5: unknown ['5'] (allowed: 1, 2)" in capsys.readouterr().err
