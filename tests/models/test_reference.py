"""The shipped reference NN-FAP artifact on real light curves (fixtures, no ../shared)."""

from __future__ import annotations

import numpy as np

from tests.conftest import light_curves_from_long
from vsbatch.kernels import LightCurves
from vsbatch.models import load_artifact, predict_nnfap


def test_reference_verifies_real_rrab_and_rejects_shuffled(ogle_rrab, rng):
    art = load_artifact("nnfap")
    assert art.card["kind"] == "nnfap" and art.card["representation"]["n_points"] == 200
    _, lcs = light_curves_from_long(ogle_rrab)
    freq = 1.0 / ogle_rrab.groupby(["source_id", "band"], sort=True)["period"].first().to_numpy()
    shuffled = []
    for i in range(lcs.n_segments):
        t, m, e = lcs.segment(i)
        perm = rng.permutation(t.size)
        shuffled.append((t, m[perm], e[perm]))
    both = LightCurves.from_segments([*(lcs.segment(i) for i in range(2)), *shuffled])
    pred = predict_nnfap(art, both, np.r_[freq, freq], device="cpu")
    assert (pred.fap[:2] < 0.1).all()  # real OGLE RRab at the catalogue period: periodic
    assert (pred.fap[2:] > 0.5).all()  # the same epochs with magnitudes shuffled: aperiodic
    assert not pred.few_cycles.any()
