"""``refset oracle``: check an implementation against the golden cases, or regenerate them."""
import argparse
import json
import math
import sys

from .harness import DEFAULT_TIMEOUT

__all__ = ["add_parser", "run"]


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(
            f"--timeout must be a number of seconds >= 0 (0: no limit), got {text!r}")
    return value


def add_parser(sub, parser_class, formatter_class):
    o = sub.add_parser("oracle", help="check an implementation against refset's golden cases",
                       description="refset as a correctness oracle: golden cases (L0 kernels, "
                       "L1 topology steps, L2 short training runs) and a harness that runs them "
                       "against an adapter module.  See docs/oracle.md.",
                       formatter_class=formatter_class)
    osub = o.add_subparsers(dest="oracle_command", metavar="{check,regenerate,list}",
                            parser_class=parser_class)
    osub.required = True
    c = osub.add_parser("check", help="run the cases against an adapter",
                        formatter_class=formatter_class,
                        description="Run every case whose function the adapter exposes; print a "
                        "pass/fail table with the largest relative error per case.  Exit 1 on "
                        "any unexpected failure (or unexpected pass).")
    c.add_argument("--adapter", default="refset.oracle.adapters.cython",
                   help="importable module name or path to a .py file")
    c.add_argument("--level", type=int, choices=(0, 1, 2), default=None,
                   help="only this level (0 kernels, 1 topology steps, 2 training runs)")
    c.add_argument("--case", default=None, help="only cases whose name contains this text")
    c.add_argument("--expected-failures", default=None, metavar="FILE",
                   help="file of case names expected to fail (one per line, # comments)")
    c.add_argument("--json", default=None, metavar="OUT", help="also write the results as JSON")
    c.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="a case whose function runs longer is an error and the check goes on "
                   "(0: no limit; needs SIGALRM: not on Windows)")
    r = osub.add_parser("regenerate", help="rebuild the cases from the current code",
                        formatter_class=formatter_class,
                        description="Rebuild every golden case from refset's numpy twins.  With "
                        "--check nothing is written: exit 1 if any stored case differs from what "
                        "the code produces now.")
    r.add_argument("--check", action="store_true",
                   help="only verify that the stored cases are current")
    r.add_argument("--out", default=None,
                   help="write the cases here instead of the package's data directory")
    osub.add_parser("list", help="list the stored cases", formatter_class=formatter_class)
    return o


def run(args):
    from . import format_table
    from .harness import check, list_cases, load_case, read_expected_failures, regenerate

    if args.oracle_command == "list":
        for name in list_cases():
            doc = load_case(name)[0]
            print(f"{name:38} {doc['function']:18} {doc['description']}")
        return 0
    if args.oracle_command == "regenerate":
        if args.check:
            differ = regenerate(check_only=True)
            if differ:
                print("stored cases differ from what the code produces: " + ", ".join(differ))
                return 1
            print(f"all {len(list_cases())} stored cases are exactly what the code produces")
            return 0
        written = regenerate(args.out, progress=lambda name: print(f"wrote {name}", flush=True))
        print(f"{len(written)} cases written")
        return 0
    xfail = read_expected_failures(args.expected_failures)
    results = check(args.adapter, level=args.level, pattern=args.case, expected_failures=xfail,
                    timeout=args.timeout)
    if not results:
        raise ValueError("no case matches --level/--case")
    print(format_table(results, args.adapter))
    if args.json:
        from .._io import atomic_write, json_default

        with atomic_write(args.json, "w") as f:
            json.dump([r.__dict__ for r in results], f, indent=1, default=json_default)
    bad = [r.name for r in results if r.unexpected]
    if bad:
        sys.stderr.write(f"refset oracle: {len(bad)} unexpected result(s): {', '.join(bad)}\n")
        return 1
    if all(r.status == "n/a" for r in results):
        sys.stderr.write("refset oracle: the adapter implements none of the selected cases\n")
        return 1
    return 0
