"""The referral POST (?submit=true) in one process, without HTTP or Kafka: CPU per request of
the intake's own work (validation, encryption, blind index, outbox, idempotency, audit) on a
fresh SQLite platform, and the SQL statements each request makes. Figures only, no assertion.

    .venv/bin/python bench/intake.py [-n 400] [--profile out.prof]

Compare two versions by running each (e.g. a worktree of the older commit with REPO set to
it) in turns on a quiet machine and taking the medians.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(os.environ.get("REPO", Path(__file__).resolve().parents[1]))
sys.path[:0] = [str(REPO), str(REPO / "shared")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=400)
    parser.add_argument("--profile", help="write a cProfile of the timed requests here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="marac-intake-"))
    os.environ.update({"MARAC_DATA_DIR": str(folder),
                       "MARAC_AREAS_FILE": str(REPO / "deploy" / "areas.yaml"),
                       "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # never reached: no relay runs
                       "MARAC_LOG_LEVEL": "WARNING"})
    os.environ.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-c", "import sys; sys.path[:0] = sys.argv[1:3]; "
                    "from services.registry import main; sys.argv = ['marac', 'migrate', "
                    "'referral', '--create-database']; sys.exit(main())",
                    str(REPO), str(REPO / "shared")], check=True, stdout=subprocess.DEVNULL)

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from marac_platform.checklists import get_checklist
    from marac_platform.security.tokens import mint_token
    from services.referral.app import create_app
    from services.referral.sample import PARTNER_CHECKLIST, sample_referral

    app = create_app()
    token = mint_token((folder / "keys" / "dev_private.pem").read_bytes(), subject="ref-1",
                       agency="police", role="referrer", areas=["northshire"],
                       audience="marac", issuer="marac-dev")
    ids = list(get_checklist(PARTNER_CHECKLIST).question_ids)
    warm = 20
    bodies = [sample_referral(ids, "northshire", yes_answers=16,
                              victim_given=f"Given{uuid.uuid4().hex[:10]}",
                              victim_family=f"Family{uuid.uuid4().hex[:10]}")
              for _ in range(args.requests + warm)]
    client = app.test_client()
    statements = 0

    def counted(*_: Any) -> None:
        nonlocal statements
        statements += 1

    def post(body: dict[str, Any]) -> None:
        answer = client.post("/v1/referrals?submit=true", json=body, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
        if answer.status_code != 201:
            raise SystemExit(f"intake answered {answer.status_code}: {answer.data[:300]!r}")

    for body in bodies[:warm]:
        post(body)
    event.listen(Engine, "before_cursor_execute", counted)
    profile = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profile:
        profile.enable()
    for body in bodies[warm:]:
        post(body)
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = args.requests
    print(f"intake in-process, {n} POSTs ?submit=true: {cpu / n * 1000:.2f} ms CPU and "
          f"{wall / n * 1000:.2f} ms wall per request, {statements / n:.1f} SQL statements "
          f"per request ({REPO})")


if __name__ == "__main__":
    main()
