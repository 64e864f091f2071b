"""Settings for the test suite: the portal's own, on the services that answer.

The environment is prepared before portal.settings is imported, because the
portal reads it only there.
"""

import os

from tests import services

_postgres = services.postgres_url()
_redis = services.redis_url()
if services.require_services() and not (_postgres and _redis):
    missing = [name for name, url in (("PostgreSQL", _postgres), ("Redis", _redis)) if not url]
    raise RuntimeError(f"REQUIRE_SERVICES=1 but {' and '.join(missing)} did not answer")

os.environ.setdefault("DEBUG", "1")
os.environ["SECRET_KEY"] = "tests-only-secret-key-not-for-production-0123456789abcdef"
if _postgres:
    os.environ["DATABASE_URL"] = _postgres
else:
    os.environ.pop("DATABASE_URL", None)
if _redis:
    os.environ["REDIS_URL"] = _redis
    os.environ["CELERY_BROKER_URL"] = _redis
    os.environ["CELERY_RESULT_BACKEND"] = _redis
else:
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"

from portal.settings import *  # noqa: E402, F403

POSTGRES_AVAILABLE = bool(_postgres)
REDIS_AVAILABLE = bool(_redis)
# Tests run tasks in-process unless a test starts a real worker.
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
# A worker thread in the integration tests must not keep a connection open
# past its task, or the test database could not be dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
if POSTGRES_AVAILABLE:
    # One test database per run, so that two runs on one machine never collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_portal_{os.getpid()}"}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}  # noqa: F405
