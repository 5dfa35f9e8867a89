"""Model inputs built from light curves, batched over a whole partition (kernels underneath).

- :mod:`vsbatch.represent.nnfap`: the NN-FAP phase-folded sequence (Miller et al.).
"""
