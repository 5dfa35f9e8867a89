"""The NN-FAP reference recipe: training table, real and synthetic evaluation.

The shipped artifact ``vsbatch/models/reference/nnfap`` (v1) was made with OGLE bulge RRab
cadences in place of MACHO and the paper's negatives only (see the git history of this file);
this recipe with the new negatives made the v2 model of ``docs/nnfap.md``, which is not
shipped (it calls real RR Lyrae aperiodic too often).

Cadences (time stamps, real (mag, err) pairs and each window's median magnitude only; no real
light-curve shape reaches the curves):

- ASAS I (Dékány et al. 2021, 2,080 unlabelled stars): all;
- EROS-1 LMC B and R (RAMP kit train split): every other star in sorted source-id order
  (the even positions); the odd positions are kept out for evaluation;
- MACHO LMC R and B (25 stars): random windows of at most 1,000 epochs.

OGLE bulge RRab, SDSS Stripe 82, OGLE-II microlensing and ZTF supernovae are not used, so
every evaluated light curve is unseen and four of the five evaluation sets are unseen
surveys. Per survey a seeded share of the curves is generated with
:func:`vsbatch.training.injection.make_nnfap_training_set` (half periodic, types 1-5 evenly;
half aperiodic, evenly over the paper's shuffled and inflated curves and the astrophysical
kinds: red noise, microlensing, outbursts, dips, trends; A / sigma log-uniform in [1, 100];
periods U(0.1 d, T / 2); aperiodic curves folded at their GLS best period) by
``python -m benchmarks nnfap-reference table``; the model is then trained by ``vsbatch train
nnfap`` (the exact command is in the card).

:func:`evaluate_reference_nnfap` runs the real-data comparison with the Baluev FAP.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.shared_data import (
    EROS_SOURCES,
    OGLE2_MICROLENSING,
    SHARED_LIGHT_CURVES,
    ZTF_SNIA,
    shared_data_dir,
)
from benchmarks.validate import ogle3_periods
from vsbatch.models.artifacts import annotate_artifact, load_artifact, table_fingerprint
from vsbatch.training.evaluate import evaluate_nnfap
from vsbatch.training.injection import APERIODIC_KINDS, make_nnfap_training_set

LONG = ["source_id", "time", "mag", "mag_err", "band"]
SHARES = {"asas": 0.35, "eros": 0.45, "macho": 0.20}
N_CURVES = 3000
SEED = 20261207
CADENCES = (
    "ASAS I (idekany/ifeh, 2,080 stars, all); EROS-1 LMC B+R (ramp-kits/variable_stars train "
    "split, even positions of the sorted source ids; odd positions kept for evaluation); "
    "MACHO LMC R+B (25 stars, windows of <= 1000 epochs). Time stamps, (mag, err) pairs and "
    "window medians only. Not used: OGLE bulge RRab, SDSS S82, OGLE-II microlensing, ZTF SNe."
)


def eros_split(sources: pa.Array) -> tuple[set[str], set[str]]:
    """(training-cadence ids, evaluation ids): even / odd positions in sorted id order."""
    ids = sorted({str(s) for s in sources.to_pylist()})
    return set(ids[0::2]), set(ids[1::2])


def reference_cadences(data_dir: str | Path | None = None) -> dict[str, pa.Table]:
    """The three cadence tables (long format) used for the reference model."""
    data = shared_data_dir(data_dir)
    asas = pq.read_table(data / SHARED_LIGHT_CURVES["asas"], columns=LONG)
    eros = pq.read_table(data / SHARED_LIGHT_CURVES["eros"], columns=LONG)
    train_ids, _ = eros_split(eros.column("source_id").combine_chunks())
    eros = eros.filter(pc.is_in(eros.column("source_id"), pa.array(sorted(train_ids))))
    macho = pq.read_table(data / SHARED_LIGHT_CURVES["macho"], columns=LONG)
    schema = asas.schema
    return {"asas": asas, "eros": eros.cast(schema), "macho": macho.cast(schema)}


def reference_training_table(
    data_dir: str | Path | None = None,
    n_curves: int = N_CURVES,
    seed: int = SEED,
    aperiodic_kinds: tuple[str, ...] = APERIODIC_KINDS,
) -> pa.Table:
    """The synthetic training table of the reference model (deterministic)."""
    parts = []
    for j, (survey, cadences) in enumerate(reference_cadences(data_dir).items()):
        n = round(SHARES[survey] * n_curves)
        parts.append(
            make_nnfap_training_set(
                cadences,
                n,
                seed=seed + j,
                snr_range=(1.0, 100.0),
                max_epochs=1000,
                aperiodic_kinds=aperiodic_kinds,
                id_prefix=f"nnfap-{survey}",
            )
        )
    return pa.concat_tables(parts)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks nnfap-reference table OUT.parquet [--data DIR]`` writes the
    training catalog; ``... evaluate OUT_DIR [ARTIFACT] [--data DIR]`` runs the real-data
    comparison and records it in the artifact's card. The model itself is trained by
    ``vsbatch train nnfap`` (see README, "NN-FAP").
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks nnfap-reference")
    parser.add_argument("action", choices=["table", "evaluate"])
    parser.add_argument("output")
    parser.add_argument("artifact", nargs="?", default="nnfap")
    parser.add_argument("--data", help="the real data folder (default: the shared data)")
    args = parser.parse_args(argv)
    if args.action == "table":
        table = reference_training_table(args.data)
        pq.write_table(table, args.output)
        print(f"{args.output}: {table.num_rows} epochs, fingerprint {table_fingerprint(table)}")
    else:
        reports = evaluate_reference_nnfap(args.data, args.output, args.artifact, record=True)
        table = real_evaluation_table(args.data)
        print(json.dumps(summarize(reports, table), indent=1))
        print(json.dumps(evaluate_synthetic_holdout(args.data, args.artifact), indent=1))
    return 0


def real_evaluation_table(
    data_dir: str | Path | None = None, *, eros_band: str = "EROS_B"
) -> pa.Table:
    """Real labelled curves for NN-FAP vs Baluev (long table: label, group, catalog_period).

    Periodic: EROS-1 LMC (the odd positions of :func:`eros_split`, not used as training
    cadences; ``eros_band`` only) RR Lyrae, Cepheids, binaries, Miras with the kit period;
    the five OGLE bulge RRab with their OGLE-III period; SDSS Stripe 82 RR Lyrae in r with the
    published period. Aperiodic: the OGLE-II microlensing events (``variable_unspecified``
    curves of that folder are left out: unknown type) and the ZTF type Ia supernovae in g and r
    (one light curve per band; curves with fewer than 10 epochs are not scored).
    """
    data = shared_data_dir(data_dir)
    cols = ["source_id", "time", "mag", "mag_err", "band", "label", "group", "catalog_period"]

    def finish(table: pa.Table, label: str, group: pa.Array, period: pa.Array) -> pa.Table:
        table = table.select(LONG)
        table = table.append_column("label", pa.array([label] * table.num_rows, pa.string()))
        table = table.append_column("group", group.cast(pa.string()))
        return table.append_column("catalog_period", period.cast(pa.float64())).select(cols)

    eros = pq.read_table(data / SHARED_LIGHT_CURVES["eros"])
    _, eval_ids = eros_split(eros.column("source_id").combine_chunks())
    eros = eros.filter(
        pc.and_(
            pc.is_in(eros.column("source_id"), pa.array(sorted(eval_ids))),
            pc.equal(eros.column("band"), eros_band),
        )
    )
    kit = pq.read_table(data / EROS_SOURCES).to_pandas()
    kit_period = dict(zip(kit.source_id, kit.period_kit, strict=True))
    eros_period = pa.array([kit_period.get(s) for s in eros.column("source_id").to_pylist()])
    eros_group = pa.array(["eros1_" + str(v) for v in eros.column("label").to_pylist()])
    parts = [finish(eros, "periodic", eros_group, eros_period)]

    ogle = pq.read_table(data / SHARED_LIGHT_CURVES["ogle"])
    ids = sorted(set(ogle.column("source_id").to_pylist()))
    p3 = ogle3_periods(data, ids).set_index("source_id").published.to_dict()
    parts.append(
        finish(ogle, "periodic", pa.array(["ogle_blg_rrab"] * ogle.num_rows),
               pa.array([p3.get(s) for s in ogle.column("source_id").to_pylist()]))
    )  # fmt: skip

    s82 = pq.read_table(data / SHARED_LIGHT_CURVES["s82"])
    s82 = s82.filter(pc.equal(s82.column("band"), "sdss_r"))
    s82_group = pa.array(["s82_r_" + str(v) for v in s82.column("label").to_pylist()])
    parts.append(finish(s82, "periodic", s82_group, s82.column("period")))

    ml = pq.read_table(data / OGLE2_MICROLENSING)
    ml = ml.filter(pc.equal(ml.column("label"), "microlensing"))
    parts.append(
        finish(ml, "aperiodic", pa.array(["ogle2_microlensing"] * ml.num_rows),
               pa.nulls(ml.num_rows, pa.float64()))
    )  # fmt: skip
    sn = pq.read_table(data / ZTF_SNIA)
    sn = sn.filter(pc.is_in(sn.column("band"), pa.array(["ztf_g", "ztf_r"])))
    parts.append(
        finish(sn, "aperiodic", pa.array(["ztf_snia"] * sn.num_rows),
               pa.nulls(sn.num_rows, pa.float64()))
    )  # fmt: skip
    return pa.concat_tables([part.cast(parts[0].schema) for part in parts])


def evaluate_reference_nnfap(
    data_dir: str | Path | None,
    out_dir: str | Path,
    artifact: str | Path = "nnfap",
    *,
    record: bool = False,
) -> dict[str, dict]:
    """NN-FAP vs Baluev on :func:`real_evaluation_table`, folded at the GLS best period
    (``gls/``) and at the catalog period (``catalog_period/``, GLS for microlensing).

    ``record=True`` writes the AUC summary into the artifact's card (``real_evaluation``).
    """
    art = load_artifact(artifact)
    table = real_evaluation_table(data_dir)
    out = Path(out_dir)
    reports = {}
    for fold in ("gls", "catalog_period"):
        ev = evaluate_nnfap(
            art, table, out / fold, group_column="group", fold=fold,
            title=f"real light curves, NN-FAP folded at {fold}",
        )  # fmt: skip
        pq.write_table(ev.per_curve, out / fold / "per_curve.parquet")
        reports[fold] = ev.report
    if record:
        annotate_artifact(art.path, "real_evaluation", summarize(reports, table))
    return reports


def evaluate_synthetic_holdout(
    data_dir: str | Path | None,
    artifact: str | Path = "nnfap",
    n_curves: int = 1500,
    seed: int = 777,
) -> dict:
    """NN-FAP vs Baluev on unseen curves of the training generator (another seed), folded at
    the injected period and at the GLS best period; recorded in the card
    (``synthetic_evaluation``)."""
    art = load_artifact(artifact)
    table = reference_training_table(data_dir, n_curves, seed)
    out: dict = {
        "data": f"reference_training_table(data_dir, n_curves={n_curves}, seed={seed}): unseen "
        "curves of the training generator",
        "data_fingerprint": table_fingerprint(table),
    }
    for fold in ("train_fold_period", "gls"):
        report = evaluate_nnfap(art, table, fold=fold).report
        out[fold] = _metrics(report)
    annotate_artifact(art.path, "synthetic_evaluation", out)
    return out


METHODS = ("nnfap", "nnfap_network", "baluev")


def _metrics(res: dict, methods: tuple[str, ...] = METHODS) -> dict:
    return {m: {k: res[m][k] for k in ("AUC", "ACC", "TPR", "TNR")} for m in methods}


def summarize(reports: dict[str, dict], table: pa.Table) -> dict:
    """AUC / ACC per fold: ``nnfap`` is the catalog's ``nnfap_fap`` (few-cycle folds -> 1),
    ``nnfap_network`` the network alone, ``baluev`` the plain Baluev FAP; the rules apply the
    few-cycles advice to both; ``groups``: each set against the whole other class (card-sized).
    """
    out: dict = {
        "data": "benchmarks.nnfap_reference.real_evaluation_table (EROS-1 B held-out half, "
        "OGLE bulge RRab, S82 r vs OGLE-II microlensing, ZTF SNe Ia g and r)",
        "data_fingerprint": table_fingerprint(table),
        "scores": "P(periodic) for NN-FAP, -log10 FAP for Baluev; thresholds NN-FAP <= 0.5, "
        "FAP_Baluev < 0.01",
    }
    for fold, rep in reports.items():
        out[fold] = {
            "n_scored": rep["n_scored"],
            **_metrics(rep),
            **{
                name: {
                    **_metrics(rule, ("nnfap", "baluev")),
                    "n_flagged": rule["n_flagged"],
                    "rule": rule["rule"],
                }
                for name, rule in rep["rules"].items()
            },
            "groups_auc_nnfap_fap_baluev": {
                g: [d["n_scored"], d["AUC_nnfap"], d["AUC_baluev"]]
                for g, d in rep["groups"].items()
            },
        }
    return out


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
