"""Training and evaluation: shards, splits, the training loop, metrics, reports (no CLI).

- :func:`~vsbatch.training.nnfap.train_nnfap`: NN-FAP on a labelled long table -> artifact;
- :func:`~vsbatch.training.metrics.evaluate_binary`: ACC, AUC, TPR, TNR, ... in NumPy;
- :func:`~vsbatch.training.evaluate.evaluate_nnfap`: NN-FAP vs Baluev FAP, JSON + ROC PNG;
- :mod:`vsbatch.training.reference`: the shipped model's training catalog and real-data check;
- :func:`~vsbatch.training.loop.fit`: the training loop of every kind (also data-parallel).
"""

from vsbatch.training.evaluate import NnfapEvaluation, evaluate_nnfap
from vsbatch.training.metrics import auc_score, evaluate_binary, roc_curve
from vsbatch.training.nnfap import NnfapTrainingConfig, train_nnfap

__all__ = [
    "NnfapEvaluation",
    "NnfapTrainingConfig",
    "auc_score",
    "evaluate_binary",
    "evaluate_nnfap",
    "roc_curve",
    "train_nnfap",
]
