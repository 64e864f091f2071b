# The portal's image: one image for web, worker and beat (docker-compose.yml
# picks the process with `manage.py serve <web|worker|beat>`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=0 \
    VAR_DIR=/app/var

WORKDIR /app
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 portal

COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir .

COPY . .
# collectstatic needs settings, not secrets: a throwaway key for this step only.
RUN SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown -R portal:portal /app/var

USER portal
EXPOSE 8000
CMD ["python", "manage.py", "serve", "web"]
