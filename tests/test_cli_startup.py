"""The command line starts without torch: `cnnlab --help` and every group's help stay fast (the timing itself
is a benchmark in docs/benchmarks.md; here, what makes it fast)."""

import subprocess
import sys

import pytest

from cnnlab import __version__
from tests.cli import run_cli

CHECK = """
import sys
sys.argv = ["cnnlab", *sys.argv[1:]]
from cnnlab.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "sklearn", "matplotlib", "timm", "faiss") if m in sys.modules)
print("HEAVY", ",".join(heavy))
"""


@pytest.mark.parametrize("argv", [["--help"], ["classify", "train", "--help"], ["segment", "--help"],
                                  ["similarity", "--help"], ["generate", "sample", "--help"], ["models", "--help"],
                                  ["data", "--help"], ["serve", "--help"],
                                  ["explain", "--help"], ["explain", "layer", "--help"], ["--version"]])
def test_help_imports_no_heavy_library(argv):
    out = subprocess.run([sys.executable, "-c", CHECK, *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY", out.stdout[-300:]


def test_version(tmp_path):
    out = run_cli("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"cnnlab {__version__}"
