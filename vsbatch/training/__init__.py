"""Training and evaluation: shards, splits, the training loop, metrics, reports (no CLI).

- :func:`~vsbatch.training.nnfap.train_nnfap`: NN-FAP on a labelled long table -> artifact;
- :func:`~vsbatch.training.metrics.evaluate_binary`: ACC, AUC, TPR, TNR, ... in NumPy;
- :func:`~vsbatch.training.evaluate.evaluate_nnfap`: NN-FAP vs Baluev FAP, JSON + ROC PNG;
- :mod:`vsbatch.training.reference`: the shipped model's training catalog and real-data check;
- :func:`~vsbatch.training.loop.fit`: the training loop of every kind (also data-parallel).
"""
