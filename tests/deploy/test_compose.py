"""docker-compose.yml and the Dockerfile, checked by parsing (no Docker engine is needed):
every service has what it needs, every name it uses resolves, the platform's environment is
what the code reads, and the image is built from pinned parts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.registry import SERVICES as DECLARED
from tests.deploy.environment import settings_the_code_reads

REPO = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)\}")
DIGEST = re.compile(r"^[\w./:-]+@sha256:[0-9a-f]{64}$")


def dotenv() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (REPO / ".env").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip('"')
    return values


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as compose reads it: .env interpolated, YAML anchors and merge keys applied."""
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    values = dotenv()
    missing = sorted(set(VARIABLE.findall(text)) - set(values))
    assert missing == [], f"not in .env: {missing}"
    loaded: dict[str, Any] = yaml.safe_load(VARIABLE.sub(lambda m: values[m.group(1)], text))
    return loaded


def platform_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    image = f"{dotenv()['MARAC_IMAGE']}:{dotenv()['MARAC_IMAGE_TAG']}"
    return {name: service for name, service in compose["services"].items() if service.get("image") == image}


def test_every_service_has_an_image_and_every_dependency_exists(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert service.get("image"), name
        for needed, condition in (service.get("depends_on") or {}).items():
            assert needed in services, f"{name} depends on {needed}, which is not a service"
            if condition["condition"] == "service_healthy":
                assert services[needed].get("healthcheck"), f"{name} waits for {needed} to be healthy"
            if condition["condition"] == "service_completed_successfully":
                assert services[needed].get("restart") == "no", f"{needed} is one-shot"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in compose["volumes"], f"{name} uses the undeclared volume {source}"


def test_each_service_of_the_platform_has_a_web_and_a_worker(compose: dict[str, Any]) -> None:
    services = platform_services(compose)
    for name in DECLARED:
        web, worker = services[f"{name}-web"], services[f"{name}-worker"]
        assert web["command"][:2] == ["web", name] and worker["command"] == ["worker", name]
        port = web["command"][web["command"].index("--port") + 1]
        published = [mapping.rsplit(":", 1)[1] for mapping in web["ports"]]
        assert published == [port], f"{name}-web publishes {published}, listens on {port}"
        probe = " ".join(web["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/healthz" in probe
        assert web["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert services["setup"]["command"] == ["marac topics create && marac migrate --create-database"]


def test_the_console_calls_each_services_web_container(compose: dict[str, Any]) -> None:
    services = compose["services"]
    console = platform_services(compose)["console-web"]
    assert console["command"][:2] == ["web", "console"]
    assert console["ports"] == [f"127.0.0.1:{dotenv()['CONSOLE_PORT']}:8000"]
    assert console["environment"]["MARAC_PUBLIC_URL"] == f"http://127.0.0.1:{dotenv()['CONSOLE_PORT']}"
    for name in DECLARED:
        url = urlsplit(console["environment"][f"MARAC_{name.upper()}_URL"])
        assert url.hostname == f"{name}-web" and url.hostname in services, name
        assert services[url.hostname]["command"][-1] == str(url.port), name


def test_the_platform_environment_is_what_the_code_reads(compose: dict[str, Any]) -> None:
    reads = settings_the_code_reads()
    for name, service in platform_services(compose).items():
        unknown = sorted(variable for variable in service["environment"] if not reads(variable))
        assert unknown == [], name


def test_the_environment_names_servers_the_file_runs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = next(iter(platform_services(compose).values()))["environment"]
    kafka_host, kafka_port = env["KAFKA_BOOTSTRAP_SERVERS"].split(":")
    assert kafka_host in services and f"PLAINTEXT://:{kafka_port}" in services[kafka_host]["environment"][
        "KAFKA_LISTENERS"]
    database = urlsplit(env["DATABASE_URL"])
    assert database.hostname in services and database.port == 5432
    created = set(re.findall(r"CREATE DATABASE (\w+)",
                             (REPO / "deploy" / "compose" / "initdb.sql").read_text(encoding="utf-8")))
    names = database.path.strip("/")
    assert created == {names.replace("{service}", name) for name in (*DECLARED, "keystore")}
    assert urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).hostname in services
    assert env["MARAC_SMTP_HOST"] in services


def test_the_images_are_pinned() -> None:
    values = dotenv()
    for name, image in values.items():
        if name.endswith("_IMAGE") and name != "MARAC_IMAGE":
            assert ":" in image and not image.endswith(":latest"), f"{name}={image}"
    assert DIGEST.match(values["PYTHON_IMAGE"]), "the base image by digest"


def test_the_dockerfile_builds_from_the_pinned_base_and_the_constraints() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert base is not None and base.group(1) == dotenv()["PYTHON_IMAGE"]
    # The node stage only runs `npm ci`: what it yields is pinned by the lock's integrity hashes.
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE) == [
        "${NODE_IMAGE}", "${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert "PIP_CONSTRAINT=/src/constraints.txt" in dockerfile
    assert "PIP_BUILD_CONSTRAINT=/src/constraints.txt" in dockerfile  # setuptools of the build too
    ignored = {line.strip().rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.MULTILINE):
        *sources, _target = line.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file"
            assert source.split("/")[0] not in ignored, f"{source} is in .dockerignore"


def test_the_constraints_pin_every_package_of_the_platform_and_its_tools() -> None:
    lines = [line for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    pinned = {re.split(r"==", line)[0].lower().replace("_", "-"): line for line in lines}
    assert all("==" in line for line in lines)
    with (REPO / "pyproject.toml").open("rb") as file:
        metadata = tomllib.load(file)
    wanted = [*metadata["project"]["dependencies"], *metadata["project"]["optional-dependencies"]["dev"],
              *metadata["build-system"]["requires"]]
    for requirement in wanted:
        name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in constraints.txt (./dev lock)"
    for tool in ("ruff", "mypy", "pip", "setuptools"):
        assert tool in pinned
