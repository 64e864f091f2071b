"""The examples of docs/api.md run, in order, against a live server."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from registry.services import api_token_create
from tests.registry.factories import DataSourceFactory, loan_classifier

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
BLOCK = re.compile(r"```(sh|python)\n(.*?)```", re.DOTALL)


def examples():
    return BLOCK.findall(DOC.read_text())


def test_the_page_has_curl_and_python_examples():
    kinds = [kind for kind, _ in examples()]
    assert kinds.count("sh") >= 3 and kinds.count("python") >= 2


@pytest.mark.django_db(transaction=True)
def test_every_example_runs_against_a_live_server(live_server, tmp_path):
    system = loan_classifier()
    DataSourceFactory(slug="loan-applications", systems=[system])
    token = api_token_create(by=None, name="docs", system=system)[1]
    env = {**os.environ, "PORTAL_URL": live_server.url, "PORTAL_TOKEN": token}

    outputs = []
    for number, (kind, code) in enumerate(examples()):
        command = ["bash", "-euo", "pipefail", "-c", code] if kind == "sh" else [sys.executable]
        result = subprocess.run(
            command,
            input=code if kind == "python" else None,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (
            f"example {number} ({kind}) failed:\n{code}\n{result.stderr}{result.stdout}"
        )
        outputs.append(result.stdout)

    assert '"accepted":2' in outputs[0]
    assert "{'accepted': 1, 'duplicates': 0}" in outputs[1]
    assert "0 value must be a number" in outputs[2]
    assert '"resolution"' in outputs[3]
    assert '"content_hash"' in outputs[4]
    assert '"deployable":false' in outputs[5]
    assert '"state":"open"' in outputs[6]
    assert outputs[7].strip() == '{"accepted":1,"duplicates":0}'
    assert "{'accepted': 2, 'duplicates': 0}" in outputs[8]
    assert outputs[9].strip() == '{"accepted":1,"duplicates":0}'
    assert '"integration":{"status":"ok"' in outputs[10].replace(" ", "")
