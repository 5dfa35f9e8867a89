"""Benchmarks, scale runs, validation on real data and training-set generators for vsbatch.

Not part of the installed package: these modules import ``vsbatch`` and read the real light
curves of the ``shared/data`` folder beside the repository (:mod:`benchmarks.shared_data`).
Run them with ``python -m benchmarks COMMAND`` from the repository root (see README.md here).
"""
