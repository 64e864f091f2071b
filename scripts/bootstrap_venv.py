"""Create the project's virtual environment with nothing but Python's standard library.

`python3 -m venv` needs ensurepip, which Debian and Ubuntu ship separately
(python3-venv). When it is missing, the environment is created without pip
and pip is bootstrapped from its own wheel, downloaded from PyPI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import urllib.request
import venv
from pathlib import Path

MINIMUM = (3, 11)


def main(target: str) -> int:
    if sys.version_info < MINIMUM:
        sys.stderr.write(
            f"Python {'.'.join(map(str, MINIMUM))}+ is needed, this is {sys.version}\n"
        )
        return 2
    env_dir = Path(target)
    python = env_dir / "bin" / "python"
    if python.exists():
        return 0
    try:
        import ensurepip  # noqa: F401

        venv.create(env_dir, with_pip=True)
        return 0
    except (ImportError, subprocess.CalledProcessError):
        pass
    sys.stderr.write("ensurepip is missing; bootstrapping pip from PyPI\n")
    venv.create(env_dir, with_pip=False, clear=True)
    with urllib.request.urlopen("https://pypi.org/pypi/pip/json", timeout=60) as response:
        release = json.load(response)
    wheel = next(f for f in release["urls"] if f["packagetype"] == "bdist_wheel")
    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = Path(tmp) / wheel["filename"]
        with urllib.request.urlopen(wheel["url"], timeout=120) as response:
            wheel_path.write_bytes(response.read())
        # A pip wheel is importable as is: run pip from it to install itself.
        subprocess.run(
            [str(python), f"{wheel_path}/pip", "install", "--no-index", str(wheel_path)],
            check=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".venv"))
