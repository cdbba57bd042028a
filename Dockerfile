# syntax=docker/dockerfile:1
# The one image of the MARAC platform: every service's web and worker process and the operator
# commands. The arguments pick what runs (ENTRYPOINT is `marac`):
#   docker run IMAGE web referral --host 0.0.0.0 --port 8000
#   docker run IMAGE worker referral
#   docker run IMAGE migrate --create-database
# The base image by digest, so two builds of one commit start from the same bytes (the tag is
# for people; the digest wins). To move to a newer 3.11-slim (security updates), take its
# digest and put it here and in .env's PYTHON_IMAGE (a test holds the two equal):
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
#   (or: docker pull python:3.11-slim && docker inspect --format '{{index .RepoDigests 0}}' python:3.11-slim)
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
# By tag: this stage only runs `npm ci`, whose output the lock's integrity hashes pin.
ARG NODE_IMAGE=node:20-slim

# The console's GOV.UK Frontend assets, from the npm registry as the lock pins them.
FROM ${NODE_IMAGE} AS assets
WORKDIR /src
COPY services/console/package.json services/console/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${PYTHON_IMAGE} AS build
# Every package at the version constraints.txt pins (`./dev lock` makes it), and the build
# tools of the isolated builds too (pip 25.3 and later apply only build constraints there).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CONSTRAINT=/src/constraints.txt \
    PIP_BUILD_CONSTRAINT=/src/constraints.txt
WORKDIR /src
RUN python -m venv /opt/marac
# Dependencies first, from pyproject.toml alone, so a source change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN /opt/marac/bin/pip install pip \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/marac/bin/pip install -r /tmp/requirements.txt
# Not devtools/: the local Kafka and PostgreSQL launchers (marac_devinfra) are for development.
COPY shared ./shared
COPY services ./services
RUN /opt/marac/bin/pip install --no-deps .


FROM ${PYTHON_IMAGE}
ENV PATH=/opt/marac/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MARAC_AREAS_FILE=/etc/marac/areas.yaml \
    MARAC_DATA_DIR=/var/lib/marac \
    MARAC_BIND_HOST=0.0.0.0
# Pango, HarfBuzz and a font: WeasyPrint renders the actions service's PDF documents with them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 marac \
    && useradd --system --uid 10001 --gid marac --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin marac \
    && install -d -o marac -g marac -m 0700 /var/lib/marac
COPY --from=build /opt/marac /opt/marac
COPY --from=assets /src/node_modules/govuk-frontend/dist/govuk /opt/marac/console-assets
ENV MARAC_CONSOLE_ASSETS=/opt/marac/console-assets
# The example areas as a default; Kubernetes mounts the region's own file over it.
COPY deploy/areas.yaml /etc/marac/areas.yaml
# Each service's Alembic scripts ship inside the installed package.
RUN python -c "from services.registry import SERVICES; \
assert all((spec.migrations / 'env.py').is_file() for spec in SERVICES.values())"
WORKDIR /var/lib/marac
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["marac"]
CMD ["--help"]
