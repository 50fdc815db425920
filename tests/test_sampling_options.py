"""One options object for the sampler's settings (issue 16 item 3)."""

from __future__ import annotations

import numpy as np
import pytest

import bayescale as bs
from bayescale.sampling import SamplingOptions


class Stop(Exception):
    pass


def test_options_merge_over_a_functions_defaults():
    o = SamplingOptions(draws=200, target_accept=0.95)
    assert o.over(draws=1000, tune=1000) == {"draws": 200, "tune": 1000, "target_accept": 0.95}
    assert SamplingOptions.of({"chains": 2}) == SamplingOptions(chains=2)
    with pytest.raises(TypeError, match="no field"):
        SamplingOptions.of({"draw": 10})
    with pytest.raises(TypeError, match="SamplingOptions or a dict"):
        SamplingOptions.of(3)


def test_fit_with_options_equals_fit_with_keywords(chinchilla_runs):
    kw = dict(seed=3, prior_draws=0, retry=False, warn=False)
    a = bs.fit(chinchilla_runs, "chinchilla", draws=150, tune=150, chains=2, progressbar=False,
               **kw)
    b = bs.fit(chinchilla_runs, "chinchilla", sampling=SamplingOptions(
        draws=150, tune=150, chains=2, progressbar=False), **kw)
    assert np.array_equal(a.draws()["alpha"], b.draws()["alpha"])
    assert b.draws()["alpha"].shape == (300,)


@pytest.mark.parametrize("entry", ["backtest", "learn_discrepancy"])
def test_evaluation_passes_the_options_to_every_fit(monkeypatch, chinchilla_runs, entry):
    import bayescale.sampling.fit as fit_module

    seen = {}

    def fake_fit(runs, law=None, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(fit_module, "fit", fake_fit)
    options = SamplingOptions(draws=123, chains=3, target_accept=0.97)
    with pytest.raises(Stop):
        if entry == "backtest":
            bs.backtest(chinchilla_runs, ["chinchilla"], cutoffs=[1e21], sampling=options)
        else:
            bs.learn_discrepancy(chinchilla_runs, "chinchilla", sampling=options)
    assert (seen["draws"], seen["tune"], seen["chains"]) == (123, 400, 3)
    assert seen["target_accept"] == 0.97
