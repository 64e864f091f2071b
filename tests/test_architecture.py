"""The shape of the code: dependencies run one way, migrations are committed."""

import ast
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]

# core <- registry <- governance <- rollout <- portal: an app may import only
# the packages listed for it (besides itself, Django and third parties).
ALLOWED = {
    "core": set(),
    "registry": {"core"},
    "governance": {"core", "registry"},
    "rollout": {"core", "registry", "governance"},
}
# Project infrastructure in portal/ that the apps may use: the Celery app only.
SHARED_PORTAL_MODULES = {"portal.celery"}
OURS = {"core", "registry", "governance", "rollout", "portal"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependencies_run_one_way(package):
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top not in OURS or top == package or top in ALLOWED[package]:
                continue
            if module in SHARED_PORTAL_MODULES:
                continue
            violations.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not violations, "\n".join(violations)


@pytest.mark.django_db
def test_every_model_change_has_a_committed_migration():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
