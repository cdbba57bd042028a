"""The Kubernetes deployment, checked offline: `kustomize build` of the base, each component
(over the base) and each overlay; every object valid against the Kubernetes schemas
(kubernetes-validate, bundled schemas, strict: an unknown field fails); kube-score clean with
each exception justified in deploy/k8s/kube-score.yaml; the areas files valid as every
service reads them and the base's copy identical to deploy/areas.yaml; the environment the
pods get read by the code; the ingress admitted by the network policies, over TLS."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import kubernetes_validate
import pytest
import yaml

from marac_platform.preflight import check_configuration
from services.registry import SERVICES as DECLARED
from tests.deploy.environment import settings_the_code_reads
from tests.support import gotools

K8S = gotools.REPO / "deploy" / "k8s"
# The oldest Kubernetes release still supported upstream when this was written; the schemas
# ship inside kubernetes-validate, so nothing is fetched.
KUBERNETES_VERSION = "1.32.0"
# The ingress controller the overlay's Ingress names, and the namespace it runs in, which the
# base's NetworkPolicy web-from-ingress admits.
INGRESS_CLASS, INGRESS_NAMESPACE = "nginx", "ingress-nginx"

Builds: TypeAlias = dict[str, list[dict[str, Any]]]


def kustomizations() -> dict[str, Path]:
    """Every base, component and overlay, by a short name."""
    found = {"base": K8S / "base"}
    found |= {f"components/{path.name}": path for path in sorted((K8S / "components").iterdir())}
    found |= {f"overlays/{path.name}": path for path in sorted((K8S / "overlays").iterdir())}
    return found


def build(name: str, path: Path, scratch: Path) -> list[dict[str, Any]]:
    kustomize = gotools.ensure("kustomize")
    if name.startswith("components/"):
        # A component is built over the base, as an overlay would use it (in one namespace).
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": "marac",
            "resources": [os.path.relpath(K8S / "base", scratch)],
            "components": [os.path.relpath(path, scratch)]}))
        path = scratch
    built = subprocess.run([str(kustomize), "build", str(path)], capture_output=True, text=True,
                           check=False, timeout=120)
    assert built.returncode == 0, f"kustomize build {name}: {built.stderr}"
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    scratch = tmp_path_factory.mktemp("kustomize")
    return {name: build(name, path, scratch / name.replace("/", "-"))
            for name, path in kustomizations().items()}


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def pod_templates(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj, obj["spec"]["template"]


def test_every_kustomization_is_built(builds: Builds) -> None:
    assert {"base", "components/hpa", "overlays/example-region"} <= set(builds)
    for name, objects in builds.items():
        # A web and a worker per service, and the console's web.
        assert len(of_kind(objects, "Deployment")) == 2 * len(DECLARED) + 1, name
        assert any(d["metadata"]["name"] == "console-web" for d in of_kind(objects, "Deployment"))


def test_every_object_is_valid_against_the_kubernetes_schemas(builds: Builds) -> None:
    for name, objects in builds.items():
        for obj in objects:
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                raise AssertionError(f"{name}: {obj['kind']}/{obj['metadata']['name']}: "
                                     f"{exc.message} at {'.'.join(map(str, exc.path))}") from None


def kube_score_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / "kube-score.yaml").read_text(encoding="utf-8"))
    return loaded


def test_every_check_left_out_of_kube_score_says_why() -> None:
    config = kube_score_config()
    assert set(config) == {"ignore", "enable"}
    for check, reason in config["ignore"].items():
        assert isinstance(reason, str) and len(reason.split()) >= 10, check


def test_kube_score_finds_nothing(builds: Builds, tmp_path: Path) -> None:
    config = kube_score_config()
    options = [*(f"--ignore-test={check}" for check in config["ignore"]),
               *(f"--enable-optional-test={check}" for check in config["enable"])]
    kube_score = gotools.ensure("kube-score")
    for name, objects in builds.items():
        manifest = tmp_path / f"{name.replace('/', '-')}.yaml"
        manifest.write_text(yaml.safe_dump_all(objects))
        scored = subprocess.run([str(kube_score), "score", "--output-format=ci", "--exit-one-on-warning",
                                 *options, str(manifest)], capture_output=True, text=True, check=False,
                                timeout=120)
        findings = [line for line in scored.stdout.splitlines()
                    if not line.startswith(("[OK]", "[SKIPPED]"))]
        assert findings == [] and scored.returncode == 0, f"{name}: {scored.stderr}"


def test_the_base_areas_file_is_a_copy_of_deploy_areas_yaml() -> None:
    # kustomize reads no file outside its folder, so the ConfigMap's source is a copy.
    copy, source = K8S / "base" / "areas.yaml", gotools.REPO / "deploy" / "areas.yaml"
    assert copy.read_bytes() == source.read_bytes(), f"cp {source} {copy}"


def areas_files() -> list[Path]:
    return [gotools.REPO / "deploy" / "areas.yaml", *sorted(K8S.glob("overlays/*/areas.yaml"))]


@pytest.mark.parametrize("areas_file", areas_files(), ids=lambda path: str(path.parent.name))
def test_every_areas_file_is_valid_as_every_service_reads_it(
        areas_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MARAC_AREA_KEYS_FILE", "MARAC_AUDIT_KEY_FILE", "MARAC_JWT_PUBLIC_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARAC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MARAC_AREAS_FILE", str(areas_file))
    areas = check_configuration(list(DECLARED.values()))
    assert areas is not None and areas.ids()


def test_the_areas_config_map_holds_its_kustomizations_file(builds: Builds) -> None:
    for name, objects in builds.items():
        own = kustomizations()[name] / "areas.yaml"
        expected = (own if own.is_file() else K8S / "base" / "areas.yaml").read_text(encoding="utf-8")
        maps = [obj for obj in of_kind(objects, "ConfigMap")
                if obj["metadata"]["name"].startswith("marac-areas")]
        assert [m["data"] for m in maps] == [{"areas.yaml": expected}], name


def test_the_pods_environment_is_what_the_code_reads(builds: Builds) -> None:
    reads = settings_the_code_reads()
    for name, objects in builds.items():
        given: set[str] = set()
        for obj in of_kind(objects, "ConfigMap"):
            if obj["metadata"]["name"].startswith("marac-env"):
                given |= set(obj["data"])
        for _, template in pod_templates(objects):
            for container in [*template["spec"].get("initContainers", []), *template["spec"]["containers"]]:
                given |= {variable["name"] for variable in container.get("env", [])}
        assert sorted(variable for variable in given if not reads(variable)) == [], name


def admits(policy: dict[str, Any], labels: dict[str, str], namespace: str, port: int) -> bool:
    spec = policy["spec"]
    selector = spec["podSelector"].get("matchLabels", {})
    if "Ingress" not in spec.get("policyTypes", []) or any(labels.get(k) != v for k, v in selector.items()):
        return False
    for rule in spec.get("ingress", []):
        sources = [peer.get("namespaceSelector", {}).get("matchLabels", {}) for peer in rule.get("from", [])]
        ports = [entry.get("port") for entry in rule.get("ports", [])]
        if {"kubernetes.io/metadata.name": namespace} in sources and port in ports:
            return True
    return False


def test_the_ingress_is_tls_and_admitted_by_the_network_policies(builds: Builds) -> None:
    objects = builds["overlays/example-region"]
    ingresses = of_kind(objects, "Ingress")
    assert ingresses, "the example region has an Ingress"
    services = {obj["metadata"]["name"]: obj for obj in of_kind(objects, "Service")}
    policies = of_kind(objects, "NetworkPolicy")
    served: set[str] = set()
    for ingress in ingresses:
        spec = ingress["spec"]
        assert spec["ingressClassName"] == INGRESS_CLASS
        tls_hosts = {host for entry in spec["tls"] for host in entry["hosts"]}
        for rule in spec["rules"]:
            assert rule["host"] in tls_hosts, f"{rule['host']} has no certificate"
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = services[backend["name"]]
                wanted = backend["port"]
                port = next(p for p in service["spec"]["ports"]
                            if p.get("name") == wanted.get("name") or p["port"] == wanted.get("number"))
                pods = [template for _, template in pod_templates(objects)
                        if all(template["metadata"]["labels"].get(k) == v
                               for k, v in service["spec"]["selector"].items())]
                assert pods, f"Service {backend['name']} selects no pod"
                for template in pods:
                    container_port = next(p["containerPort"] for c in template["spec"]["containers"]
                                          for p in c.get("ports", []) if p.get("name") == port["targetPort"])
                    labels = template["metadata"]["labels"]
                    assert any(admits(policy, labels, INGRESS_NAMESPACE, container_port)
                               for policy in policies), f"no NetworkPolicy admits {backend['name']}"
                served.add(backend["name"])
    assert served == {*DECLARED, "console"}  # every service's API and the console
