"""Every variable the code reads is listed in .env.example."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READERS = re.compile(r"""(?:env_(?:str|bool|int|list)|os\.environ\.get)\(\s*["']([A-Z_]+)["']""")


def variables_read() -> set[str]:
    names = set()
    for path in [*ROOT.glob("portal/**/*.py"), *ROOT.glob("tests/services.py")]:
        names.update(READERS.findall(path.read_text()))
    names.update(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    return names - {"DJANGO_SETTINGS_MODULE"}


def test_every_variable_is_documented_with_a_default():
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    missing = variables_read() - listed
    assert not missing, f"add to .env.example: {sorted(missing)}"
