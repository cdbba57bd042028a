"""The Go tools the deployment tests run (kustomize, kube-score), at pinned releases that
build with this machine's Go, installed once with `go install` into the cache folder
(`MARAC_CACHE_DIR`, default `<repo>/.cache`, like the Kafka jars). `./dev test` installs them
before pytest (`python -m tests.support.gotools`); a test that needs one installs it itself.

kube-linter would be the first choice of linter, but its module host is not one the Go module
proxy serves here; kube-score is, and covers the same ground (probes, resources, security
context, network policies, disruption budgets, ingress targets).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# name -> (package, version). Raise a version only to one whose go.mod needs no newer Go
# than the machines have (go1.26): kustomize v5.8.3 asks for go 1.27.
TOOLS: dict[str, tuple[str, str]] = {
    "kustomize": ("sigs.k8s.io/kustomize/kustomize/v5", "v5.8.2"),
    "kube-score": ("github.com/zegl/kube-score/cmd/kube-score", "v1.20.0"),
}


class ToolUnavailable(RuntimeError):
    """A tool could not be installed; the message says what to do."""


def cache_dir() -> Path:
    return Path(os.environ.get("MARAC_CACHE_DIR") or REPO / ".cache") / "go-tools"


def ensure(name: str) -> Path:
    """The tool's binary, installed with `go install` the first time."""
    package, version = TOOLS[name]
    binary = cache_dir() / f"{name}-{version}" / name
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        raise ToolUnavailable(f"{name} {version} is installed with Go, which is missing: install Go 1.26 "
                              "or newer (Debian: apt-get install golang-go)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=binary.parent.parent) as staging:
        # The machine's own Go (no toolchain download); a half-built binary never lands.
        env = {**os.environ, "GOBIN": staging, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}
        built = subprocess.run([go, "install", f"{package}@{version}"], env=env, cwd=staging,
                               capture_output=True, text=True, check=False)
        if built.returncode != 0:
            raise ToolUnavailable(f"go install {package}@{version} failed: {built.stderr.strip()[-2000:]}")
        os.replace(Path(staging) / name, binary)
    return binary


def main() -> int:
    for name in TOOLS:
        print(f"{name} {TOOLS[name][1]}: {ensure(name)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
