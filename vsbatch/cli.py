"""The ``vsbatch`` command: thin wrappers over the Python API (``vsbatch.api``).

Exit codes: 0 success, 2 bad input or usage, 1 internal error.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import traceback

from vsbatch._version import __version__
from vsbatch.errors import VsbatchError


def _key_values(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _kinds() -> list[str]:
    from vsbatch.models.kinds import KINDS

    return list(KINDS)


def _stages(text: str) -> tuple[str, ...]:
    """``default``, a comma list, or ``default,pdm`` / ``default,-dmdt`` style edits."""
    from vsbatch.config import ALL_STAGES, DEFAULT_STAGES

    chosen: list[str] = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        if item == "default":
            chosen.extend(DEFAULT_STAGES)
        elif item == "all":
            chosen.extend(ALL_STAGES)
        elif item.startswith("-"):
            chosen = [s for s in chosen if s != item[1:]]
        else:
            chosen.append(item)
    return tuple(s for s in ALL_STAGES if s in chosen) + tuple(
        s for s in dict.fromkeys(chosen) if s not in ALL_STAGES
    )


CATALOGUE_INPUT_OPTIONS = ("input", "output", "model", "overwrite", "partition_epochs", "cluster",
                           "no_cluster", "workers", "threads_per_worker", "memory_limit", "gpus",
                           "verbose")  # fmt: skip
"""``vsbatch run`` options a catalogue-parameters input uses; any other one given is refused, so
a new light-curve option is refused there without being listed."""


def _options_given_except(args: argparse.Namespace, used: tuple[str, ...]) -> list[str]:
    """The ``vsbatch run`` options outside ``used`` given a value other than their default."""
    defaults = vars(build_parser().parse_args(["run"]))
    return ["--" + d.replace("_", "-") for d, v in defaults.items()
            if d not in used and getattr(args, d) != v]  # fmt: skip


def _cmd_run(args: argparse.Namespace) -> int:
    from vsbatch.cluster import ClusterSpec
    from vsbatch.config import RunConfig
    from vsbatch.errors import UsageError
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
        cluster = ClusterSpec(
            cluster="none" if args.no_cluster else args.cluster,
            workers=args.workers,
            threads_per_worker=args.threads_per_worker,
            memory_limit=args.memory_limit,
            gpus=args.gpus,
        )
        if args.model:
            from vsbatch.io.catalog_tables import is_catalog_parameters
            from vsbatch.pipeline import classify_catalog

            if is_catalog_parameters(args.input):  # one row per source, no epochs (issue 5)
                refused = _options_given_except(args, CATALOGUE_INPUT_OPTIONS)
                if refused:
                    raise UsageError(
                        f"{args.input}: a catalogue-parameters input (one row per source, no "
                        f"epochs) takes no {', '.join(refused)}; rerun it with --overwrite"
                    )
                result = classify_catalog(args.input, args.output, tuple(args.model),
                                          overwrite=args.overwrite, cluster=cluster,
                                          partition_rows=args.partition_epochs)  # fmt: skip
                print(result.text())
                return 0
        source, output, mode, keep_going = (
            args.input,
            args.output,
            (flags or ["new"])[0],
            (args.keep_going),
        )
        config = RunConfig(
            min_epochs=args.min_epochs,
            partition_epochs=args.partition_epochs,
            column_map=_key_values(args.column),
            stages=_stages(args.stages),
            fmin=args.fmin,
            fmax=args.fmax,
            samples_per_peak=args.samples_per_peak,
            top_k=args.top_k,
            max_frequencies=args.max_frequencies,
            period_backend=args.period_backend,
            pdm_bins=args.pdm_bins,
            fold_period=args.fold_period,
            fourier_order=args.fourier_order,
            clip_mag=args.clip_mag,
            dmdt_max_pairs=args.dmdt_max_pairs,
            seed=args.seed,
            models=tuple(args.model),
            type_column=args.type_column,
            blazhko_cuts=args.blazhko_cuts,
        )
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

    text = format_result(query(args.catalog, args.sql), args.format, args.output)
    if text is not None:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    import json

    from vsbatch.cluster import ClusterSpec
    from vsbatch.validate import format_report, recovery_report, report_json

    rows = recovery_report(
        args.data, cluster=ClusterSpec(workers=args.workers), astropy=args.astropy
    )
    print(json.dumps(report_json(rows), indent=1) if args.json else format_report(rows))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from vsbatch.bench import main as bench_main

    return bench_main(args.passed_through)


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


def _read_table(path: str):  # noqa: ANN202 - a pyarrow Table
    import pyarrow.parquet as pq

    from vsbatch.errors import InputError

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

    from vsbatch.models.kinds import TrainRequest, train

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
        params=_key_values(args.set),
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

    from vsbatch.models.artifacts import load_artifact
    from vsbatch.models.kinds import EvaluateRequest, model_kind

    artifact = load_artifact(args.model)
    request = EvaluateRequest(
        data=args.data,
        out_dir=Path(args.output),
        label_column=args.label_column,
        group_column=args.group_column,
        params=_key_values(args.set),
    )
    result = model_kind(artifact.card["kind"]).part("evaluate")(artifact, request)
    print(json.dumps(result.report, indent=1, default=str))
    print("written: " + " ".join(map(str, result.files)), file=sys.stderr)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    from vsbatch.config import BLAZHKO_CUTS

    parser = argparse.ArgumentParser(prog="vsbatch", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"vsbatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="light curves (Parquet) -> partitioned Parquet catalog")
    p.add_argument(
        "input",
        nargs="?",
        help="Parquet file, folder, glob or fsspec URL (long or nested), or a HATS catalog",
    )
    p.add_argument("-o", "--output", help="catalog folder")
    p.add_argument("--job", help="a job file (jobs/*.yaml) describing the whole run")
    p.add_argument(
        "--cluster",
        default="local",
        help="local (default), slurm, kubernetes (options in a job file), tcp://host:port, "
        "scheduler-file:PATH",
    )
    p.add_argument("--gpus", type=int, default=0, help="local GPU workers (dask-cuda)")
    p.add_argument("--no-cluster", action="store_true", help="run in this process (debugging)")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.add_argument("--threads-per-worker", type=int, default=1)
    p.add_argument("--memory-limit", help="per worker, e.g. 4GiB (default: share of RAM)")
    p.add_argument(
        "--partition-epochs",
        type=int,
        default=100_000,
        help="cost bound (rows per partition for a catalogue-parameters input)",
    )
    p.add_argument("--min-epochs", type=int, default=5, help="fewer valid epochs -> failure")
    g = p.add_argument_group("what to compute (defaults: the papers')")
    g.add_argument(
        "--stages",
        default="default",
        help="comma list: default (stats,period,multiband,fourier,freqanalysis,dmdt), all, "
        "or edits such as default,pdm or default,-dmdt",
    )
    g.add_argument("--fmin", type=float, help="lowest frequency, c/d (default 1/baseline)")
    g.add_argument("--fmax", type=float, default=25.0, help="highest frequency, c/d")
    g.add_argument("--samples-per-peak", type=float, default=5.0)
    g.add_argument("--top-k", type=int, default=3, help="periodogram peaks kept")
    g.add_argument("--max-frequencies", type=int, default=5_000_000, help="per light curve")
    g.add_argument("--period-backend", default="auto", help="auto, numba or nifty-ls")
    g.add_argument("--pdm-bins", type=int, default=10)
    g.add_argument("--fold-period", default="auto", choices=["auto", "search", "catalog"])
    g.add_argument("--fourier-order", type=int, default=10)
    g.add_argument("--clip-mag", type=float, default=0.35, help="Fourier-fit rejection, mag")
    g.add_argument("--dmdt-max-pairs", type=int, default=10_000_000)
    g.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    g.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME_OR_PATH",
        help="apply a model (shipped name such as nnfap, or an artifact folder); repeatable",
    )
    g.add_argument(
        "--type-column",
        metavar="NAME",
        help="blazhko model: per-source input column whose values starting with RRab mark the "
        "sources it scores (default: the model card's type, then label, else its rule)",
    )
    g.add_argument(
        "--blazhko-cuts",
        default="none",
        choices=BLAZHKO_CUTS,
        help="blazhko model: score only RRab passing Jiang et al. (2025) Sect. 2 cuts: paper = "
        "> 350 epochs, mean mag < 18; paper-mc adds mean error < 0.025, amplitude > 0.2 and "
        "> -5 log10(P) - 1 (default none: the cuts exclude sparse surveys such as ASAS)",
    )
    p.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="NAME=COLUMN",
        help="map a vsbatch column to the input's (time=hjd, mag_err=magerr, lc=lightcurve, "
        "band=filtercode; nested sub-columns by their own names)",
    )
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

    p = sub.add_parser("ingest", help="text light curves -> nested Parquet input")
    p.add_argument("inputs", nargs="+", help="files, folders or globs of text light curves")
    p.add_argument("-o", "--output", required=True, help="output .parquet file")
    p.add_argument("--band", help="band name for files without a band column")
    p.add_argument("--keep-going", action="store_true", help="record unreadable files, go on")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("query", help="SQL over a catalog (tables: catalog, failures)")
    p.add_argument("catalog")
    p.add_argument("sql")
    p.add_argument("--format", default="table", choices=["table", "csv", "json", "parquet"])
    p.add_argument("-o", "--output", help="write the result to a file")
    p.set_defaults(func=_cmd_query)

    p = sub.add_parser(
        "bench",
        add_help=False,
        help="speed side by side with astropy and nifty-ls (vsbatch bench --help)",
    )
    p.set_defaults(func=_cmd_bench, passes_through=True)

    p = sub.add_parser("validate", help="period recovery on real light curves (../shared/data)")
    p.add_argument("--data", default="../shared/data", help="folder of the labelled sets")
    p.add_argument("--workers", type=int)
    p.add_argument("--astropy", action="store_true", help="add astropy's S82 r-band recovery")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("report", help="self-contained HTML report of a catalog")
    p.add_argument("catalog")
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

    p = sub.add_parser("inspect", help="one source: light curve, periodogram, fold, spectra, dm-dt")
    p.add_argument("catalog")
    p.add_argument("source_id")
    p.add_argument("-o", "--output", required=True, help="PNG file")
    p.add_argument("--input", help="where the input is now, if not where the manifest says")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("synth", help="synthetic NN-FAP training curves on real cadences")
    p.add_argument("--cadences", required=True, help="long-format light curves whose times to use")
    p.add_argument("-n", type=int, default=2000, help="light curves to make")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_cmd_synth)

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

    p = sub.add_parser("evaluate", help="metrics of a model on labelled light curves")
    p.add_argument("model", help="artifact name or folder")
    p.add_argument("--data", required=True, help="labelled vsbatch input catalog (Parquet)")
    p.add_argument("-o", "--output", required=True, help="folder for JSON + PNG")
    p.add_argument("--label-column", default="label")
    p.add_argument("--group-column")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="kind-specific setting (repeatable)")  # fmt: skip
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("models", help="model artifacts: vsbatch models list")
    p.add_argument("action", choices=["list"])
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("schema", help="columns, types, units and descriptions")
    p.add_argument("table", nargs="?", default="catalog", choices=["catalog", "failures", "input"])
    p.set_defaults(func=_cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passes_through", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.passed_through = rest
    args.command_line = "vsbatch " + shlex.join(sys.argv[1:] if argv is None else map(str, argv))
    log = logging.getLogger("vsbatch")
    for old in [h for h in log.handlers if getattr(h, "vsbatch_cli", False)]:
        log.removeHandler(old)  # main() called again in one process (tests, notebooks)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    handler.vsbatch_cli = True
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except VsbatchError as exc:
        print(f"vsbatch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (argparse.ArgumentTypeError, ValueError) as exc:
        print(f"vsbatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - internal error: exit 1 with the traceback
        traceback.print_exc()
        print(f"vsbatch: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
