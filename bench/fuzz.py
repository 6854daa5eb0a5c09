"""Fuzzing figures for BENCHMARKS.md: schemathesis over a live `skynet serve` (issue #12).

The same runs as tests/api/test_fuzz.py (an admin key, then no key), with the case counts and
failures written to bench/results/security.json: fuzz_cases, fuzz_server_errors,
fuzz_nonconforming (schemathesis' unique conformance failures).

    python -m bench.fuzz --examples 40
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.live import machine_description
from tests.fuzz_support import fuzz, seeded_server

RESULTS = Path(__file__).parent / "results" / "security.json"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=40, help="cases per operation, keyed")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    limits = {"SKYNET_RATE_LIMIT_PER_MINUTE": "1000000"}  # as in the test: past the fuzzer's rate
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as root, seeded_server(
        Path(root), limits
    ) as api:
        keyed = fuzz(api, "with-key", [f"X-API-Key: {api.admin_key}"], args.examples)
        anonymous = fuzz(api, "without-key", [], max(1, args.examples // 3))
    runs = (keyed, anonymous)
    figures = {
        "fuzz_cases": sum(run.cases for run in runs),
        "fuzz_cases_with_key": keyed.cases,
        "fuzz_cases_without_key": anonymous.cases,
        "fuzz_server_errors": sum(run.server_errors for run in runs),
        "fuzz_nonconforming": sum(run.nonconforming for run in runs),
        "fuzz_statuses": {
            str(status): keyed.statuses[status] + anonymous.statuses[status]
            for status in sorted(set(keyed.statuses) | set(anonymous.statuses))
        },
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged = {
        **previous,
        **figures,
        "fuzz_date": datetime.now(UTC).date().isoformat(),
        "machine": machine_description(),
    }
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
