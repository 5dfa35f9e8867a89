"""``python -m benchmarks COMMAND [OPTIONS]``: one entry point for the tools in this folder.

Each command is a module's ``main``; it is imported only when chosen, so ``bench`` does not
load the pipeline and ``validate`` does not load the NN-FAP training code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

COMMANDS = {
    "bench": "speed and recovery side by side with astropy and nifty-ls, per core",
    "scale": "N synthetic sources on real cadences end to end: throughput and peak memory",
    "validate": "period recovery on the real labelled sets, against published periods",
    "alias-recovery": "alias-aware period choice on Stripe 82 and EROS-1: recovery, alias flags",
    "blazhko-training-set": "write the labelled Blazhko / non-Blazhko RRab training set",
    "nnfap-reference": "the NN-FAP reference model's training table and real-data evaluation",
    "fourier-order": "BIC-chosen against fixed Fourier order: OGLE parameters, order counts",
}


def _main_of(command: str) -> Callable[[list[str]], int]:
    """The ``main`` of the module behind ``command``."""
    if command == "bench":
        from benchmarks.bench import main
    elif command == "scale":
        from benchmarks.scale import main
    elif command == "validate":
        from benchmarks.validate import main
    elif command == "alias-recovery":
        from benchmarks.alias_recovery import main
    elif command == "blazhko-training-set":
        from benchmarks.blazhko_training_set import main
    elif command == "fourier-order":
        from benchmarks.fourier_order import main
    else:
        from benchmarks.nnfap_reference import main
    return main


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m benchmarks COMMAND [OPTIONS]  (COMMAND --help for its options)", ""]
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen command with the remaining arguments; usage and exit 2 otherwise."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if not argv:
        print(_usage(), file=sys.stderr)
        return 2
    if argv[0] not in COMMANDS:
        print(f"unknown command {argv[0]!r}\n{_usage()}", file=sys.stderr)
        return 2
    return _main_of(argv[0])(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
