"""The ``vsbatch`` command: thin wrappers over the Python API.

Exit codes: 0 success, 2 bad input or usage, 1 internal error. The ``vsbatch run`` options
are generated from the fields of ``RunConfig`` and ``ClusterSpec``, whose metadata holds
their help; so the command line, job files and the Python API share one set of defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import sys
import traceback
import typing
from typing import TYPE_CHECKING, Any

from vsbatch._version import __version__
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig, command_line_options, parse_key_values
from vsbatch.errors import InputError, UsageError, VsbatchError

if TYPE_CHECKING:
    import pyarrow as pa


def _kinds() -> list[str]:
    from vsbatch.models.kinds import available_kinds

    return available_kinds()


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _format_default(value: Any) -> str:
    """A default as a user would type it; empty for "nothing" (None, no models, no mapping)."""
    if value is None or value == () or value == {}:
        return ""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _command_line_type(hint: Any) -> Any:
    """The type that reads a flag's text: the field's type, without ``| None``."""
    options = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
    return options[0]


def _add_dataclass_options(group: argparse._ArgumentGroup, cls: type) -> None:
    """One flag per field of ``cls`` with command-line metadata: help and default from there.

    Fields with a ``parse`` get no argparse default (None means "not given", so the
    dataclass's default applies); the others get the dataclass's default.
    """
    hints = typing.get_type_hints(cls)
    for name, opt, default in command_line_options(cls):
        shown = opt.default_text or _format_default(default)
        kwargs: dict[str, Any] = {
            "dest": _dest(opt.flag_name(name)),
            "help": opt.help + (f" (default: {shown})" if shown else ""),
            "metavar": opt.metavar,
            "choices": opt.choices,
        }
        if opt.repeatable:
            kwargs["action"] = "append"
        elif opt.parse is None:
            kwargs.update(default=default, type=_command_line_type(hints[name]))
        group.add_argument(opt.flag_name(name), **kwargs)


def _dataclass_from_args(cls: type, args: argparse.Namespace) -> Any:
    """``cls`` built from the flags ``_add_dataclass_options`` added for it."""
    values = {}
    for name, opt, _ in command_line_options(cls):
        value = getattr(args, _dest(opt.flag_name(name)))
        if opt.parse is not None:
            if value is None:
                continue
            value = opt.parse(value)
        values[name] = value
    return cls(**values)


MODELS_EXTRA_HINT = "pip install 'vsbatch[models]'"


def _require_models_extra(what: str) -> None:
    """Exit 2 with the install command when PyTorch (the ``models`` extra) is missing: runs
    without models never need it, so the base install leaves it out."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"{what} needs PyTorch, in the models extra: {MODELS_EXTRA_HINT}") from exc


def _cmd_run(args: argparse.Namespace) -> int:
    from vsbatch.jobs import load_job
    from vsbatch.pipeline import run

    flags = [m for m in ("resume", "overwrite", "update") if getattr(args, m)]
    if args.job:  # the job file describes the run; input, -o and the mode flags override
        job = load_job(args.job)
        source, output, config, cluster = job.input, job.output, job.config, job.cluster
        mode, keep_going = (flags[0] if flags else job.mode), job.keep_going or args.keep_going
        source, output = args.input or source, args.output or output
    else:
        if not args.input or not args.output:
            raise UsageError("vsbatch run needs INPUT and -o CATALOG (or --job FILE)")
        cluster = _dataclass_from_args(ClusterSpec, args)
        if args.no_cluster:
            cluster = dataclasses.replace(cluster, cluster="none")
        source, output, mode, keep_going = (
            args.input,
            args.output,
            (flags or ["new"])[0],
            (args.keep_going),
        )
        config = _dataclass_from_args(RunConfig, args)
    if config.models:
        _require_models_extra("--model")
    summary = run(
        source,
        output,
        config,
        cluster,
        resume=mode == "resume",
        overwrite=mode == "overwrite",
        update=mode == "update",
        keep_going=keep_going,
    )
    print(summary.text())
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from vsbatch.io.text import ingest_text

    summary = ingest_text(args.inputs, args.output, band=args.band, keep_going=args.keep_going)
    for file, reason in summary.failed_files:
        print(f"failed: {file}: {reason}", file=sys.stderr)
    print(
        f"ingested {summary.sources} sources, {summary.epochs} epochs -> {summary.output}"
        + (f" ({len(summary.failed_files)} files failed)" if summary.failed_files else "")
    )
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from vsbatch.query import format_result, query

    # the catalog's owner at a shell: DuckDB's full reach (the Python API defaults to safe)
    text = format_result(query(args.catalog, args.sql, safe=False), args.format, args.output)
    if text is not None:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from vsbatch.report import report

    s = report(args.catalog, args.output, sample_cap=args.sample_cap, seed=args.seed,
               candidates_png=args.blazhko_candidates, per_class=args.per_class,
               input=args.input, candidates_model=args.blazhko_model)  # fmt: skip
    for warning in s.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{s.output}: {s.n_images} figures, {s.light_curves} light curves, {s.sources} sources, "
        f"{s.failures} failure records, {s.seconds:.1f} s"
    )
    if s.candidates is not None:
        counts = [sum(c.blazhko_class == k for c in s.candidates.candidates) for k in ("BL", "nBL")]
        print(f"{s.candidates.output}: {counts[0]} BL and {counts[1]} nBL candidates of "
              f"{s.candidates.model}")  # fmt: skip
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from vsbatch.inspection import inspect_source

    s = inspect_source(args.catalog, args.source_id, args.output, input=args.input)
    for note in s.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{s.output}: {len(s.bands)} band(s), {s.width}x{s.height} px")
    return 0


def _read_table(path: str) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as Parquet ({exc})") from exc


def _cmd_synth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vsbatch.io.catalog import write_parquet_atomic
    from vsbatch.training.injection import make_nnfap_training_set

    table = make_nnfap_training_set(_read_table(args.cadences), args.n, seed=args.seed)
    write_parquet_atomic(table, Path(args.output))
    print(f"{args.output}: {args.n} synthetic light curves, {table.num_rows} epochs")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    _require_models_extra("vsbatch train")
    from vsbatch.training.kinds import train
    from vsbatch.training.requests import TrainRequest

    request = TrainRequest(
        kind=args.kind,
        data=args.data,
        out_dir=Path(args.output),
        name=args.name or args.kind,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        label_column=args.label_column,
        folds=args.folds,
        params=parse_key_values(args.set),
        cluster=args.cluster,
        workers=args.workers,
        command=args.command_line,
        resume=args.resume,
    )
    artifact = train(request)
    print(f"{args.output}: {artifact.version_tag}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    _require_models_extra("vsbatch evaluate")
    from vsbatch.models.artifacts import load_artifact
    from vsbatch.training.kinds import evaluate
    from vsbatch.training.requests import EvaluateRequest

    artifact = load_artifact(args.model)
    request = EvaluateRequest(
        data=args.data,
        out_dir=Path(args.output),
        label_column=args.label_column,
        group_column=args.group_column,
        params=parse_key_values(args.set),
    )
    result = evaluate(artifact, request)
    print(json.dumps(result.report, indent=1, default=str))
    print("written: " + " ".join(map(str, result.files)), file=sys.stderr)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    _require_models_extra("vsbatch models")
    from vsbatch.models.artifacts import list_artifacts

    for a in list_artifacts():
        print(
            f"{a.name:<12} {a.kind:<8} {a.version:<8} {a.parameters:>9,} params  "
            f"sha256 {a.weights_sha256[:12]}  {a.path}"
        )
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from vsbatch.schema import describe

    print(describe(args.table))
    return 0


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="light curves (Parquet) -> partitioned Parquet catalog")
    p.add_argument(
        "input",
        nargs="?",
        help="Parquet file, folder, glob or fsspec URL (long or nested), or a HATS catalog",
    )
    p.add_argument("-o", "--output", help="catalog folder")
    p.add_argument("--job", help="a job file (jobs/*.yaml) describing the whole run")
    where = p.add_argument_group("where to run")
    _add_dataclass_options(where, ClusterSpec)
    where.add_argument("--no-cluster", action="store_true", help="run in this process (debugging)")
    what = p.add_argument_group("what to compute (defaults: the papers')")
    _add_dataclass_options(what, RunConfig)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an interrupted run")
    mode.add_argument("--overwrite", action="store_true", help="replace an existing catalog")
    mode.add_argument("--update", action="store_true", help="recompute changed partitions")
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="record unreadable files and crashed partitions as failures and go on",
    )
    p.set_defaults(func=_cmd_run)


def _add_ingest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="text light curves -> nested Parquet input")
    p.add_argument("inputs", nargs="+", help="files, folders or globs of text light curves")
    p.add_argument("-o", "--output", required=True, help="output .parquet file")
    p.add_argument("--band", help="band name for files without a band column")
    p.add_argument("--keep-going", action="store_true", help="record unreadable files, go on")
    p.set_defaults(func=_cmd_ingest)


def _add_query(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("query", help="SQL over a catalog (tables: catalog, failures)")
    p.add_argument("catalog", help="catalog folder written by vsbatch run")
    p.add_argument("sql", help="one SQL statement over the tables catalog and failures")
    p.add_argument("--format", default="table", choices=["table", "csv", "json", "parquet"])
    p.add_argument("-o", "--output", help="write the result to a file")
    p.set_defaults(func=_cmd_query)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="self-contained HTML report of a catalog")
    p.add_argument("catalog", help="catalog folder written by vsbatch run")
    p.add_argument("-o", "--output", default="report.html")
    p.add_argument("--sample-cap", type=int, default=20_000, help="points per scatter plot")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--blazhko-candidates",
        metavar="PNG",
        help="also draw the phased light curves of the most confident BL and nBL candidates of "
        "a blazhko model of the catalog (reads their input epochs), here and in the report",
    )
    p.add_argument("--per-class", type=int, default=4, help="candidates per class (BL, nBL)")
    p.add_argument(
        "--blazhko-model",
        metavar="NAME",
        help="with --blazhko-candidates: which blazhko model's, when the run used several "
        "(default: the first)",
    )
    p.add_argument("--input", help="where the input is now, if not where the manifest says")
    p.set_defaults(func=_cmd_report)


def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="one source: light curve, periodogram, fold, spectra, dm-dt")
    p.add_argument("catalog", help="catalog folder written by vsbatch run")
    p.add_argument("source_id", help="the source to draw, as in the catalog's source_id column")
    p.add_argument("-o", "--output", required=True, help="PNG file")
    p.add_argument("--input", help="where the input is now, if not where the manifest says")
    p.set_defaults(func=_cmd_inspect)


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="synthetic NN-FAP training curves on real cadences")
    p.add_argument("--cadences", required=True, help="long-format light curves whose times to use")
    p.add_argument("-n", type=int, default=2000, help="light curves to make")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_cmd_synth)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model kind on a labelled catalog")
    p.add_argument("kind", choices=sorted(_kinds()), help="model kind")
    p.add_argument("--data", required=True, help="labelled vsbatch input catalog (Parquet)")
    p.add_argument("-o", "--output", required=True, help="artifact folder")
    p.add_argument("--name", help="artifact name (default: the kind)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="maximum epochs (default: the kind's)")
    p.add_argument("--batch-size", type=int, help="default: the kind's")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda")
    p.add_argument("--label-column", default="label", help="per-source label column")
    p.add_argument("--folds", type=int, default=0, help="stratified k-fold cross-validation")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="kind-specific setting, e.g. hidden=64 (repeatable)")  # fmt: skip
    p.add_argument("--cluster", default="local", help="where shards are built (as vsbatch run)")
    p.add_argument(
        "--workers", type=int, default=1, help="Dask worker processes training data-parallel (DDP)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the checkpoint in the output folder (written after every epoch; "
        "blazhko); raise --epochs to train further",
    )
    p.set_defaults(func=_cmd_train)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="metrics of a model on labelled light curves")
    p.add_argument("model", help="artifact name or folder")
    p.add_argument("--data", required=True, help="labelled vsbatch input catalog (Parquet)")
    p.add_argument("-o", "--output", required=True, help="folder for JSON + PNG")
    p.add_argument("--label-column", default="label")
    p.add_argument("--group-column")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="kind-specific setting (repeatable)")  # fmt: skip
    p.set_defaults(func=_cmd_evaluate)


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="model artifacts: vsbatch models list")
    p.add_argument("action", choices=["list"])
    p.set_defaults(func=_cmd_models)


def _add_schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="columns, types, units and descriptions")
    p.add_argument("table", nargs="?", default="catalog", choices=["catalog", "failures", "input"])
    p.set_defaults(func=_cmd_schema)


SUBCOMMANDS = (_add_run, _add_ingest, _add_query, _add_report, _add_inspect, _add_synth,
               _add_train, _add_evaluate, _add_models, _add_schema)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vsbatch", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"vsbatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an internal error"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add_subcommand in SUBCOMMANDS:
        add_subcommand(sub)
    return parser


def _log_to_stderr(verbose: bool) -> None:
    """The ``vsbatch`` logger to stderr, replacing a handler an earlier ``main`` call added."""
    log = logging.getLogger("vsbatch")
    for old in [h for h in log.handlers if getattr(h, "vsbatch_cli", False)]:
        log.removeHandler(old)  # main() called again in one process (tests, notebooks)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    handler.vsbatch_cli = True
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors vsbatch raises on purpose print one line and set the exit code,
    any other exception is an internal error (exit 1), with its traceback under ``--debug``."""
    args = build_parser().parse_args(argv)
    args.command_line = "vsbatch " + shlex.join(sys.argv[1:] if argv is None else map(str, argv))
    _log_to_stderr(args.verbose)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
        return code
    except VsbatchError as exc:
        print(f"vsbatch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        hint = "; rerun it with --resume to continue" if args.command == "run" else ""
        print(f"vsbatch: interrupted{hint}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader closed the pipe (`vsbatch schema | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # internal error: exit 1, traceback on request
        if args.debug:
            traceback.print_exc()
            print(f"vsbatch: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            print(f"vsbatch: internal error: {type(exc).__name__}: {exc} "
                  "(rerun with --debug for the traceback)", file=sys.stderr)  # fmt: skip
        return 1


if __name__ == "__main__":
    sys.exit(main())
