"""``vsbatch report``: one self-contained HTML page describing a committed catalog.

What it shows, and why each piece is there:

- the run (manifest): input, configuration, sources, light curves, failures by stage and by
  reason, throughput of the last run, and models with versions when the manifest lists any;
- a period histogram (log period), the Bailey diagram (period vs amplitude) coloured by class,
  the Fourier-parameter planes R21-R31, phi21-phi31 and R31-phi31 (the planes of the Blazhko
  paper's Figs. 7-10, where RRab, RRc and Blazhko stars separate) and the distribution of the
  Baluev false-alarm probability -- the plots an astronomer looks at first to judge a catalog;
- confusion matrices and ROC curves of the evaluation results stored with the catalog
  (``CATALOG/_evaluation/*.json``, format below), when there are any;
- on request (``candidates_png``, ``vsbatch report --blazhko-candidates PNG``), the phased light
  curves of the most confident BL and nBL candidates of a Blazhko model column
  (:func:`blazhko_candidates`), also written as a PNG: a P_BL is only believed after looking at
  the folds behind it. This figure, unlike the others, reads the candidates' input epochs.

Scale: whatever its size, the catalog is read in three DuckDB scans (``aggregate``): counts and
exact ranges, a seeded sample of up to ``RANGE_SAMPLE`` rows, and one GROUPING SETS query for
every histogram. No plot loads every row and no query holds a hash table of every id, so memory
stays flat from a hundred rows to millions (README: 1,000,000 rows in 2,048 partition files).

Modules: ``aggregate`` (the SQL scans), ``figures`` (catalog plots), ``candidates`` (Blazhko
candidates figure), ``evaluation`` (evaluation files and their figure), ``sections`` (the
tables), ``html`` (markup), ``page`` (the ``report`` entry point); drawing helpers shared
with ``vsbatch inspect`` are in ``vsbatch.plotting``.

Evaluation results (``CATALOG/_evaluation/<name>.json``), one file per evaluated model::

    {
      "model": "blazhko_cnn",                  # required
      "version": "0.2.0",                      # optional
      "dataset": "OGLE-IV LMC test set",       # optional, what it was evaluated on
      "confusion_matrix": {                    # optional
        "labels": ["BL", "nBL"],               # class order of rows and columns
        "matrix": [[90, 10], [5, 95]]          # counts; rows = true class, columns = predicted
      },
      "roc": [                                 # optional, one curve per positive class
        {"label": "BL", "fpr": [0, 0.1, 1], "tpr": [0, 0.8, 1], "auc": 0.93}
      ]                                        # auc optional (trapezoid rule when absent)
    }

``write_evaluation`` writes this format; a malformed file is skipped with a warning in the
report (a report never fails because of one bad evaluation file).

Models: a manifest may list the models that filled its columns as ``models`` (a list of
``{"name": ..., "version": ..., ...}`` or a ``{name: version}`` mapping), at the top level or
in ``stats``; the report tabulates whatever is there.
"""

from vsbatch.plotting import PanelInfo
from vsbatch.report.candidates import Candidate, CandidatesSummary, blazhko_candidates
from vsbatch.report.evaluation import (
    EVALUATION_DIR,
    ConfusionMatrix,
    EvaluationRecord,
    RocCurve,
    load_evaluations,
    write_evaluation,
)
from vsbatch.report.page import ReportSummary, report
from vsbatch.report.rendered import FigureInfo

__all__ = [
    "EVALUATION_DIR",
    "Candidate",
    "CandidatesSummary",
    "ConfusionMatrix",
    "EvaluationRecord",
    "FigureInfo",
    "PanelInfo",
    "ReportSummary",
    "RocCurve",
    "blazhko_candidates",
    "load_evaluations",
    "report",
    "write_evaluation",
]
