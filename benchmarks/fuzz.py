"""The fuzz harness of ``tests/test_fuzz.py``, run longer: ``python benchmarks/fuzz.py --minutes 10``.

Draws seeded cases (from ``--first-seed`` on) until the time is up, each read in a forked child
with a memory limit and a timeout, and prints counts per outcome, per mutation, and every failing
case (seed, signature, detail). Cases listed in ``KNOWN_OPEN`` are run too, and counted apart.
Data go to a temporary folder, deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import test_fuzz as harness


def main(argv: list[str] | None = None) -> int:
    """Run the fuzz harness for a while and print what it found."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to draw cases (default 1)")
    parser.add_argument(
        "--first-seed", type=int, default=harness.CI_CASES, help="first seed (default: after CI's)"
    )
    parser.add_argument("--max-cases", type=int, default=None, help="stop after this many cases")
    parser.add_argument("--json", metavar="FILE", help="write every failing case, with its steps, to FILE")
    parser.add_argument("--quiet", action="store_true", help="no line per failing case while running")
    args = parser.parse_args(argv)

    import neo_alf  # noqa: F401 - loaded once, inherited by the forked children

    with tempfile.TemporaryDirectory(prefix="neo-alf-fuzz-") as tmp:
        t0 = time.monotonic()
        runner = harness.Runner(Path(tmp))
        deadline = t0 + 60 * args.minutes
        seed = args.first_seed
        outcomes: list[harness.Outcome] = []

        def report(o: harness.Outcome) -> None:
            if o.failed and not args.quiet:
                known = " (KNOWN_OPEN)" if o.case.signature in harness.KNOWN_OPEN else ""
                print(f"FAIL{known} {o.case.id}: {o.verdict}: {o.detail[:300]}", flush=True)

        while time.monotonic() < deadline and (args.max_cases is None or len(outcomes) < args.max_cases):
            n = harness.PARALLEL * 8
            if args.max_cases is not None:
                n = min(n, args.max_cases - len(outcomes))
            batch = [harness.make_case(s, runner.bases) for s in range(seed, seed + n)]
            seed += n
            outcomes += runner.run(batch, report)
        elapsed = time.monotonic() - t0

    known = [o for o in outcomes if o.case.signature in harness.KNOWN_OPEN]
    rest = [o for o in outcomes if o.case.signature not in harness.KNOWN_OPEN]
    counts = Counter(o.verdict for o in rest)
    print(
        f"\n{len(outcomes)} cases (seeds {args.first_seed}..{seed - 1}) in {elapsed:.0f} s, "
        f"{harness.PARALLEL} children at a time; {len(known)} in KNOWN_OPEN"
    )
    print("outcomes:", ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    if known:
        print("KNOWN_OPEN outcomes:", dict(Counter(o.verdict for o in known)))
    per_mutation: dict[str, Counter] = defaultdict(Counter)
    for o in rest:
        per_mutation[o.case.mutation.name][o.verdict] += 1
    print("\nper mutation:")
    for name in sorted(per_mutation):
        print(f"  {name:32s} " + ", ".join(f"{k} {v}" for k, v in per_mutation[name].most_common()))
    slow = max(outcomes, key=lambda o: o.seconds) if outcomes else None
    if slow:
        print(f"\nslowest case: {slow.case.id} {slow.seconds:.1f} s")
    failures = [o for o in rest if o.failed]
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "seed": o.case.seed,
                        "signature": o.case.signature,
                        "verdict": o.verdict,
                        "detail": o.detail,
                        "steps": o.steps,
                    }
                    for o in outcomes
                    if o.failed
                ],
                indent=1,
                default=str,
            )
        )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
