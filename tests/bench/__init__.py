"""Benchmarks that cannot rot: every script in bench/ runs in its `--smoke` mode (seconds, tiny built-in data,
nothing recorded), so one that no longer imports or runs fails the build. The scripts are shared between two
test files so that the two test workers each take about half."""

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELPERS = ("__init__", "smoke", "keras_peer")  # modules the benchmarks share, with no --smoke of their own
BENCHES = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem not in HELPERS)


def recorded() -> dict[str, int]:
    """What a real run records: bench/out, docs/img and docs/benchmarks.md, by modification time."""
    files = [*(ROOT / "bench" / "out").glob("**/*"), *(ROOT / "docs" / "img").glob("*"),
             ROOT / "docs" / "benchmarks.md"]
    return {str(f): f.stat().st_mtime_ns for f in files if f.is_file()}


def run_smoke(name: str, monkeypatch, capsys) -> None:
    """`python -m bench.NAME --smoke`, in this process (the interpreter and torch are already up): it must end
    without an error and record nothing."""
    before = recorded()
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    monkeypatch.setattr(sys, "argv", [f"bench/{name}.py", "--smoke"])
    monkeypatch.chdir(ROOT)
    try:
        runpy.run_module(f"bench.{name}", run_name="__main__", alter_sys=False)
    except SystemExit as exc:
        said = capsys.readouterr()
        assert exc.code in (0, None), f"bench.{name} --smoke exited {exc.code}:\n{said.out[-3000:]}{said.err[-3000:]}"
    assert recorded() == before, "a smoke run must not record figures"
