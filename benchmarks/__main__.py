"""``python -m benchmarks [--quick] [--only SECTION ...]``: run the suite, print the table, save it as JSON.

Sections: store (targets 1-4), peers (RQ, Celery, SAQ on the same Redis), http (target 5), sse (target 6), memory
(target 7), growth (target 8), history (a long history costs nothing: pages, stalls, streaming), postgres (the
PostgreSQL store's own figures), soak (memory under 30 minutes of churn; only when named with --only, as are
history100k and failures), executor (jobs on Celery workers beside raw Celery), procrastinate (jobs on
procrastinate's workers beside raw procrastinate), remote (RemoteController beside one httpx.post per call), api
(the web layer's cost per request, in-process, beside a bare Starlette route), recovery (a resumed run beside a full
one, ``save()`` / ``is_done()`` beside ``progress()`` on every store, a retry's due time to its handler), cockpit
(``/active`` with diagnoses beside without; issue 22), spend (``usage()`` beside ``progress()``, shared limits under
contention from several processes, a rate's precision, usage in lists), schedules (a due occurrence to its job with
1, 2 and 4 processes, 1,000 due at once, the scheduler's cost to an idle server), failures (failure groups over
10,000 failed jobs on every store beside a /past page; a bulk re-run of 1,000 jobs on a live server), enginecost
(store writes, round trips and the time split of one job's lifecycle through a Celery worker on SQLite, Redis and
PostgreSQL, and a procrastinate worker on SQLite and Redis), history100k (100,000 finished jobs on SQLite, Redis and
PostgreSQL: the All jobs page, searches, /failures and the dashboard's first paint beside the same at 1,000 jobs;
the store's size per job). A section whose dependency is missing prints ``skipped: <why>`` rows. soak,
history100k, failures, memory and growth run only when named (``ONLY_NAMED``).
Full run under 20 minutes on 2 cores; ``--quick`` (without the sections in ``FULL_ONLY``) under two minutes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from .table import Row, machine, render, write_json

SECTIONS = {
    "store": "benchmarks.store_bench",
    "peers": "benchmarks.peers",
    "http": "benchmarks.http_bench",
    "sse": "benchmarks.sse_bench",
    "memory": "benchmarks.memory_bench",
    "growth": "benchmarks.growth_bench",
    "history": "benchmarks.history_bench",
    "postgres": "benchmarks.pg_bench",
    "soak": "benchmarks.soak_bench",
    "executor": "benchmarks.executor_bench",
    "procrastinate": "benchmarks.procrastinate_bench",
    "remote": "benchmarks.remote_bench",
    "api": "benchmarks.api_overhead",
    "recovery": "benchmarks.recovery_bench",
    "cockpit": "benchmarks.cockpit_bench",
    "spend": "benchmarks.spend_bench",
    "schedules": "benchmarks.schedule_bench",
    "failures": "benchmarks.failures_bench",
    "enginecost": "benchmarks.engine_cost_bench",
    "history100k": "benchmarks.history100k_bench",
}
# What ``--quick`` leaves to the full run (or to ``--quick --only NAME``): the soak (30 minutes), the sections
# whose setup alone takes most of a minute even when small (filling four stores with failed jobs, racing processes
# for schedules, limits contended by several processes), and memory (RSS over thousands of jobs: ~9 s, and a weak
# check at the quick counts), so that the quick suite stays under two minutes with every optional tool installed.
FULL_ONLY = {"soak", "memory", "spend", "schedules", "failures", "enginecost", "history100k"}
# What runs only when named with --only, because its fill alone would break the full run's 20 minutes: the soak
# (30 minutes of churn), 100,000 jobs of history (filling three stores: most of an hour), the failure groups
# (four stores filled with 10,000 failed jobs each: about 10 minutes), and memory and growth (100,000 jobs through
# three stores each: 4 and 5 minutes on the AMD EPYC machine, where the whole suite with them took 26 minutes).
ONLY_NAMED = {"soak", "history100k", "failures", "memory", "growth"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller counts and shorter windows; the FULL_ONLY sections left out (< 2 minutes)")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS), metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    parser.add_argument("--no-json", action="store_true", help="do not write benchmarks/results/<timestamp>.json")
    args = parser.parse_args(argv)

    info = machine()
    print(f"jobdeck benchmarks{' (quick)' if args.quick else ''}: {info['cores']} cores, {info['cpu']}, "
          f"Python {info['python']}", flush=True)
    started = time.monotonic()
    rows: list[Row] = []
    if args.only:
        names = args.only
    else:
        names = [n for n in SECTIONS if n not in ONLY_NAMED and not (args.quick and n in FULL_ONLY)]
        rows.extend(Row(n, "(section)", note=f"skipped: only when named (--only {n})")
                    for n in SECTIONS if n in ONLY_NAMED and n != "soak")
        if args.quick:
            rows.extend(Row(n, "(section)", note=f"skipped: full run only (--quick --only {n} runs its quick form)")
                        for n in SECTIONS if n in FULL_ONLY and n not in ONLY_NAMED)
    for name in names:
        t = time.monotonic()
        print(f"-- {name} ...", flush=True)
        try:
            module = importlib.import_module(SECTIONS[name])
            section_rows = module.run(args.quick)
        except ImportError as exc:
            section_rows = [Row(name, "(section)", note=f"skipped: {exc}")]
        except Exception as exc:  # one broken section must not hide the others' figures
            traceback.print_exc()
            section_rows = [Row(name, "(section)", passed=False, note=f"error: {type(exc).__name__}: {exc}")]
        rows.extend(section_rows)
        print(render(section_rows), f"\n   ({time.monotonic() - t:.1f} s)", flush=True)
    elapsed = time.monotonic() - started
    print("\n" + render(rows))
    failed = sum(1 for r in rows if r.verdict == "FAIL")
    print(f"\n{len(rows)} rows, {failed} failed, {sum(1 for r in rows if r.verdict == 'skip')} skipped, "
          f"{elapsed:.0f} s")
    if not args.no_json:
        print(f"saved {write_json(rows, quick=args.quick, elapsed=elapsed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
