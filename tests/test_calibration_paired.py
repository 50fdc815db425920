"""The calibration benchmark's paired comparison (``benchmarks/calibration.py``: ``paired``).

It tells whether the shipped method's lead or miss against a baseline on the leave-one-study-out
table exceeds the table's own noise.  Runs of one split share a fit and a deviation draw, so
the interval resamples whole splits; these tests check that it finds known differences, and
that under no difference its intervals cover 0 at about their nominal rate even when the runs
of a split are strongly correlated (where resampling runs would not)."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cal():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import calibration
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return calibration


def _scores(rng, shifts, n_splits=30, n_runs=12, split_sd=0.05, run_sd=0.01):
    """Per-run scores of two methods; ``shifts`` (study -> true mean difference).  Each split
    carries a shared difference (sd ``split_sd``): the correlated part."""
    frames = []
    for study, shift in shifts.items():
        base = rng.gamma(2.0, 0.05, (n_splits, n_runs))
        shared = rng.normal(shift, split_sd, (n_splits, 1))
        mine = base + shared + rng.normal(0, run_sd, (n_splits, n_runs))
        for method, v in (("prior updated", mine), ("anchor", base)):
            frames.append(pd.DataFrame({
                "study": study, "cell": "all", "method": method,
                "cutoff": np.repeat(np.arange(n_splits, dtype=float), n_runs),
                "d_C": np.tile(np.arange(n_runs, dtype=float), n_splits),
                "is_80": v.ravel(), "is_95": v.ravel(), "are": v.ravel()}))
    return pd.concat(frames, ignore_index=True)


def test_paired_finds_known_differences_and_their_sign(cal):
    scores = _scores(np.random.default_rng(0), {"a": -0.06, "b": 0.0, "c": 0.06})
    out = cal.paired(scores, against=("anchor",), metrics=("is_80",), seed=1)
    v = out.set_index("study")
    assert v.loc["a", "verdict"] == "better" and v.loc["c", "verdict"] == "worse"
    assert v.loc["b", "verdict"] == "within noise"
    assert v.loc["a", "diff"] == pytest.approx(-0.06, abs=0.03)
    assert list(v.index) == ["a", "b", "c", "pooled"] and v.loc["pooled", "n_splits"] == 90
    text = cal.paired_markdown(out)
    assert "| a | anchor | 30 |" in text and "better" in text


def test_split_intervals_cover_a_null_difference_at_their_rate(cal):
    rng = np.random.default_rng(2)
    covered = []
    for _ in range(60):
        scores = _scores(rng, {"a": 0.0}, n_splits=20)
        r = cal.paired(scores, against=("anchor",), metrics=("is_80",), n_boot=400,
                       seed=int(rng.integers(1 << 30))).iloc[0]
        covered.append(r.lo <= 0.0 <= r.hi)
    # 95% nominal (.90 measured here); a bootstrap of runs on these correlated runs covered
    # 0 in .40 of the same 60 replications
    assert np.mean(covered) >= 0.85


def test_paired_refuses_methods_scored_on_different_runs(cal):
    scores = _scores(np.random.default_rng(0), {"a": 0.0}, n_splits=3)
    other = scores[scores["method"] == "anchor"].iloc[:-1]
    with pytest.raises(ValueError, match="not scored on the same runs"):
        cal.paired(pd.concat([scores[scores["method"] == "prior updated"], other]),
                   against=("anchor",))
