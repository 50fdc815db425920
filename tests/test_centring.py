"""Per-exponent centring of identified hierarchies, decided from the runs (no sampling here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale.errors import SpecError
from bayescale.modeling import default_spec
from bayescale.modeling.centring import centred_exponents, exponent_information
from bayescale.modeling.model import (
    build_model,
    identified_coords,
    noncentring_remedy,
    resolve_centered,
)
from bayescale.sampling.fit import resolve_spec


def _families(alphas, *, noise=0.002, seed=0, n_sizes=6, n_ratios=4, narrow_n=False):
    rng = np.random.default_rng(seed)
    rows = []
    for k, a in enumerate(alphas):
        sizes = np.geomspace(1e8, 1.5e8, n_sizes) if narrow_n else np.geomspace(1e7, 1e9, n_sizes)
        for n in sizes:
            for tpp in np.geomspace(5, 200, n_ratios):
                d = n * tpp
                loss = (1.8 + 400 / n ** a + 1800 / d ** 0.28) * np.exp(
                    noise * rng.standard_normal())
                rows.append({"N": n, "D": d, "loss": loss, "family": f"f{k}"})
    return pd.DataFrame(rows)


def test_per_group_fits_recover_the_exponents_with_honest_errors():
    alphas = [0.30, 0.34, 0.38, 0.42, 0.46]
    runs = _families(alphas)
    info = exponent_information(runs, default_spec("chinchilla").replace(groups=("family",)))
    got = np.exp(info.set_index("group").loc[[f"f{k}" for k in range(5)], "alpha"].to_numpy())
    np.testing.assert_allclose(got, alphas, rtol=0.15)
    assert (info["se_alpha"] > 0).all() and (info["se_alpha"] < 0.3).all()


def test_spread_exponents_with_strong_data_stay_centred():
    """By default all centred; the divergence remedy keeps alpha (spread between families)
    centred and non-centres beta (the same in every family: no spread, a funnel)."""
    runs = _families([0.25, 0.32, 0.39, 0.46, 0.53, 0.60])
    spec = default_spec("chinchilla").replace(groups=("family",))
    assert resolve_centered(runs, spec).centered == ("E", "alpha", "beta")
    assert noncentring_remedy(runs, spec) == ("E", "alpha")


def test_an_exponent_the_groups_cannot_pin_is_non_centred():
    """Narrow N range per group and equal exponents: the funnel case, so alpha goes non-centred."""
    runs = _families([0.34] * 6, noise=0.01, narrow_n=True)
    spec = default_spec("chinchilla").replace(groups=("family",))
    centred = noncentring_remedy(runs, spec)
    assert "alpha" not in centred and "E" in centred
    resolved = spec.replace(centered=centred)
    assert "id_log_g_alpha" not in identified_coords(resolved).free_names
    model = build_model(runs, resolved)
    assert {"alpha_mu", "alpha_tau", "alpha_z"} <= set(model.named_vars)


def test_the_rule_compares_errors_with_the_low_end_of_the_spread():
    info = pd.DataFrame({"alpha": np.log([0.3, 0.35, 0.4, 0.45, 0.5]), "se_alpha": [0.02] * 5})
    d = centred_exponents(info, ["alpha"])["alpha"]
    assert d["centred"] == 1.0 and 0 < d["tau_low"] < d["tau_hat"]
    info["se_alpha"] = 0.5
    assert centred_exponents(info, ["alpha"])["alpha"]["centred"] == 0.0


def test_few_groups_keep_the_few_groups_block():
    runs = _families([0.3, 0.4, 0.5])
    spec = default_spec("chinchilla").replace(groups=("family",))
    assert resolve_centered(runs, spec).centered == ("E", "alpha", "beta")
    assert noncentring_remedy(runs, spec) is None


def test_a_spec_passed_where_the_law_name_goes_is_used():
    spec = default_spec("compute").replace(likelihood="normal")
    assert resolve_spec(spec).likelihood == "normal"
    with pytest.raises(SpecError, match="law must be a law name"):
        resolve_spec(3.0)


def test_datablations_samples_in_its_own_parameters_by_default():
    """Effective N', D': the identified coordinates are opt-in for the data-constrained law."""
    from bayescale.modeling.model import uses_identified

    assert not uses_identified(default_spec("datablations"))
    assert uses_identified(default_spec("datablations").replace(coordinates="identified"))
    assert uses_identified(default_spec("chinchilla"))
