"""CI runs what a new user runs: the README's two set-up commands, in a new virtual environment, and says which
installed packages differ from those the suite last passed with."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readme_commands_in_a_new_virtual_environment():
    commands = readme_commands()
    assert len(commands) == 2
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [line for line in script if line and not line.lstrip().startswith("#")]
    venv = next(i for i, line in enumerate(steps) if "-m venv" in line)
    activate = next(i for i, line in enumerate(steps) if "/bin/activate" in line)
    first, second = (steps.index(c) for c in commands)  # each exactly as the README writes it
    assert venv < activate < first < second


def test_versions_are_compared_with_the_tested_record(tmp_path):
    record = (ROOT / ".ci" / "tested-versions.txt").read_text()
    assert re.search(r"^torch==\d", record, re.M) and re.search(r"^pytest==\d", record, re.M)
    assert "cnnlab" not in record.split("\n", 1)[1]  # the project itself is not pinned
    sys.path.insert(0, str(ROOT / ".ci"))
    try:
        import versions
    finally:
        sys.path.remove(str(ROOT / ".ci"))
    lines = versions.differences({"torch": "2.15.0", "numpy": "2.0"}, {"torch": "2.14.1", "pillow": "13.0.0"})
    assert lines == ["  numpy: tested (absent), installed 2.0", "  pillow: tested 13.0.0, installed (absent)",
                     "  torch: tested 2.14.1, installed 2.15.0"]
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "versions.py")], capture_output=True, text=True,
                         check=True).stdout
    assert "installed packages" in out


def test_no_upper_bounds_hold_users_back():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    assert requirements and not [r for r in requirements if re.search(r"<|==|~=", r)]
