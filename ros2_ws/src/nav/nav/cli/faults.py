"""``nav faults``: the fault-injection suite (:mod:`nav.faults.suite`), its table on stdout."""

from __future__ import annotations

import argparse
from pathlib import Path

from nav.cli.common import add_command, fail, log_for, options, print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    faults = add_command(
        sub,
        "faults",
        run,
        "inject faults into the graph in robot mode with a scripted robot; print a table (fault, expected, "
        "observed, pass or fail)",
    )
    faults.add_argument("--only", nargs="+", metavar="FAULT", help="only these faults (names as the table's log lines)")
    faults.add_argument("--domain", type=int, dest="domain_id", help="ROS domain of the suite's graph (default 201)")
    faults.add_argument("--models-dir", type=Path, help="models to copy (default: agent.models_dir of ros.yaml)")
    faults.add_argument("--tamper", help="the variant whose weights the copy alters (default large)")
    faults.add_argument("--out", type=Path, dest="out_dir", help="keep the node logs and the bags here")
    faults.add_argument("--json", action="store_true", help="end with one line of JSON (the table goes to stderr)")


def run(args: argparse.Namespace) -> int:
    from nav.faults.judge import table
    from nav.faults.suite import FaultSuiteConfig, run_suite

    log = log_for(args)
    try:
        config = FaultSuiteConfig(**options(args, "only", "domain_id", "models_dir", "tamper", "out_dir"))
        rows = run_suite(config, log=log)
    except (ValueError, RuntimeError) as exc:
        return fail(args, exc)
    log(table(rows))
    passed = sum(r.passed for r in rows)
    log(f"{passed} of {len(rows)} faults passed")
    if getattr(args, "json", False):
        print_json({"passed": passed, "rows": [r.as_dict() for r in rows], "valid": passed == len(rows)})
    return 0 if passed == len(rows) else 1
