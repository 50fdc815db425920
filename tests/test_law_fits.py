"""Link laws fitted with the real sampler, checked against the authors' own fitting code."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TEST_DRAWS
from scipy.optimize import curve_fit

import bayescale as bs

pytestmark = pytest.mark.slow

# Gadre et al.'s 17-task subset (mlfoundations/scaling, scaling/constants.py: SUBSET)
SUBSET = ("bigbench_operators", "pubmed_qa_labeled", "hellaswag_zeroshot", "boolq", "arc_easy",
          "coqa", "bigbench_dyck_languages", "lambada_openai", "bigbench_novel_concepts",
          "winograd", "bigbench_cs_algorithms", "commonsense_qa", "bigbench_qa_wikidata",
          "hellaswag", "copa", "squad", "piqa")


def test_downstream_error_law_agrees_with_the_authors_fit():
    """Average 17-task top-1 error against C4 loss of Gadre et al.'s 95 runs: the authors'
    ``decay_ours`` fitted with their ``curve_fit`` call lies inside our 95% intervals
    (measured: theirs eps 0.859, k 2.08, gamma 0.713; ours 0.862, 1.98, 0.692)."""
    runs = bs.datasets.load("gadre_small")
    runs = runs.assign(error=1.0 - runs[[f"acc_{t}" for t in SUBSET]].mean(axis=1))

    def decay_ours(x, a, b, e):  # the authors' function, scaling/laws.py
        return e - a * np.exp(x) ** (-b)

    (k, gamma, eps), _ = curve_fit(decay_ours, runs["loss"], runs["error"], maxfev=10000)
    fit = bs.fit(runs, "downstream_error", draws=TEST_DRAWS, tune=TEST_DRAWS, seed=1,
                 progressbar=False, prior_draws=0)
    s = fit.summary()
    for name, value in (("eps", eps), ("k", k), ("gamma", gamma)):
        assert s.loc[name, "lo_95"] < value < s.loc[name, "hi_95"], (name, value, s.loc[name])
    pred = fit.predict(loss=[2.5, 3.0, 4.0]).table
    np.testing.assert_allclose(pred["median"], decay_ours(np.array([2.5, 3.0, 4.0]), k, gamma,
                                                          eps), rtol=0.02)
    assert fit.predict(loss=[3.0]).draws.name == "error"
