"""Tokens are stored hashed: a dump of the database reveals no token that works.

Pipeline, source and personal tokens are created the ways people create them
(the tokens pages, the API, the create_token command) and used once, their
secrets kept. A pg_dump of the test database then holds none of them, not even
the part after the prefix the pages show, and no value stored in the token
table authenticates when sent as a bearer token. The cache (Redis), where
pipeline tokens are kept between requests, holds none of them either.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.management import call_command
from django.db import connection
from django.test import Client

from core.roles import Role
from registry.models import ApiToken
from tests import services
from tests.registry.factories import AISystemFactory, DataSourceFactory

PREFIX_LENGTH = 12  # the part of a secret the pages show, and the table keeps
SHOWN_SECRET = re.compile(r'id="new-token"[^>]*value="([^"]+)"')
COPY_BLOCK = re.compile(
    r"^COPY public\.registry_apitoken \([^)]*\) FROM stdin;\n(.*?)^\\\.$", re.M | re.S
)


def _person(username: str, role: Role):
    user = get_user_model().objects.create_user(username=username, password="pw")
    # get_or_create: a transactional test before this one may have flushed the groups.
    user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


def _shown_secret(response) -> str:
    assert response.status_code == 200, response.content[:300]
    return SHOWN_SECRET.search(response.content.decode()).group(1)


def bearer(client, secret: str):
    return client.get("/api/v1/systems/", HTTP_AUTHORIZATION=f"Bearer {secret}")


def create_tokens() -> dict[str, str]:
    """One token of each kind by each way of making one, each used once: name -> secret."""
    AISystemFactory(slug="loan-classifier")
    DataSourceFactory(slug="crm-feed")
    browser = Client()
    browser.force_login(_person("omar", Role.SYSTEM_OWNER))
    secrets = {
        "pipeline (page)": _shown_secret(
            browser.post("/systems/loan-classifier/tokens/", {"name": "ci"})
        ),
        "personal (page)": _shown_secret(browser.post("/account/tokens/", {"name": "laptop"})),
    }
    for name, path in [("source (API)", "sources/crm-feed/tokens/"), ("personal (API)", "tokens/")]:
        response = browser.post(f"/api/v1/{path}", {"name": name}, content_type="application/json")
        assert response.status_code == 201, response.content[:300]
        secrets[name] = response.json()["token"]
    out = io.StringIO()
    call_command("create_token", "--system", "loan-classifier", "--name", "cron", stdout=out)
    secrets["pipeline (command)"] = out.getvalue().strip()
    client = Client()
    for name, secret in secrets.items():
        assert bearer(client, secret).status_code == 200, name
    return secrets


def pg_dump() -> str:
    """The whole test database, as pg_dump writes it (schema and data)."""
    program = shutil.which("pg_dump")
    if program is None:
        message = "pg_dump is not installed (apt-get install postgresql-client)"
        if services.require_services():
            pytest.fail(f"REQUIRE_SERVICES=1: {message}")
        pytest.skip(message)
    database = connection.settings_dict
    command = [program, "--no-owner", "--dbname", database["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if database[key]:
            command += [option, str(database[key])]
    environment = os.environ | {"PGPASSWORD": database["PASSWORD"] or ""}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # pg_dump sees committed rows only
def test_a_database_dump_reveals_no_usable_token(client):
    secrets = create_tokens()
    dump = pg_dump()
    rows = COPY_BLOCK.search(dump)
    assert rows is not None, "the dump has no token table"
    assert len(rows.group(1).splitlines()) == len(secrets) == ApiToken.objects.count()
    for name, secret in secrets.items():
        assert secret not in dump, name
        assert secret[PREFIX_LENGTH:] not in dump, name
    stored = {
        value for line in rows.group(1).splitlines() for value in line.split("\t") if value != r"\N"
    }
    assert stored, "nothing was read from the token table"
    for value in sorted(stored):
        assert bearer(client, value).status_code == 401, value


@pytest.mark.redis
@pytest.mark.django_db
def test_the_cache_of_pipeline_tokens_holds_no_secret():
    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    secrets = create_tokens()
    redis = backend._cache.get_client(write=False)
    keys = [key for key in redis.scan_iter(count=1000) if redis.type(key) == b"string"]
    assert any(b"api-token:" in key for key in keys), "no pipeline token was cached"
    held = b"".join(keys) + b"".join(redis.get(key) or b"" for key in keys)
    for name, secret in secrets.items():
        assert secret[PREFIX_LENGTH:].encode() not in held, name
