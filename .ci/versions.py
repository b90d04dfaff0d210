"""The installed packages against those the test suite last passed with (.ci/tested-versions.txt).

    python .ci/versions.py            # print what differs (CI does, before the tests); exit 0 either way
    python .ci/versions.py --write    # record this environment after the suite passed in it

The file is a pip constraints file: `pip install -e ".[dev]" -c .ci/tested-versions.txt` installs the tested
set. It pins nothing for users: pyproject.toml keeps lower bounds only."""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

RECORD = Path(__file__).with_name("tested-versions.txt")
SKIP = {"cnnlab", "pip", "setuptools", "wheel"}  # the project itself and the installer's own tools


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    found = {canonical(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}
    return {k: v for k, v in sorted(found.items()) if k not in SKIP}


def recorded() -> dict[str, str]:
    if not RECORD.is_file():
        return {}
    pins = (line.split("#")[0].strip() for line in RECORD.read_text().splitlines())
    return dict((canonical(name), version) for name, _, version in (p.partition("==") for p in pins if p))


def differences(now: dict[str, str], then: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(set(now) | set(then)):
        a, b = then.get(name), now.get(name)
        if a != b:
            lines.append(f"  {name}: tested {a or '(absent)'}, installed {b or '(absent)'}")
    return lines


def main(argv: list[str]) -> int:
    now = installed()
    if argv[1:] == ["--write"]:
        header = (f"# The versions the test suite last passed with (Python {sys.version.split()[0]}); "
                  "written by python .ci/versions.py --write\n")
        RECORD.write_text(header + "".join(f"{k}=={v}\n" for k, v in now.items()))
        print(f"wrote {RECORD} ({len(now)} packages)")
        return 0
    lines = differences(now, recorded())
    if not lines:
        print(f"installed packages: as tested ({len(now)} in {RECORD.name})")
    else:
        print(f"installed packages that differ from {RECORD.name} (a failure below may come from these):")
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
