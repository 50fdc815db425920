"""nutpie's mass-matrix adaptation per model (bayescale.sampling.adaptation): low-rank for single
laws and hierarchies of tens of groups, diagonal for large hierarchies.  Models are built, never
sampled (the measurements behind the threshold are in benchmarks/hierarchical_bench.py)."""

from __future__ import annotations

import pymc as pm
import pytest

from bayescale.data.synthetic import simulate_hierarchy
from bayescale.modeling.model import build_model, resolve_reference
from bayescale.sampling.adaptation import LOW_RANK_MAX_DIM, free_dimension, nutpie_adaptation
from bayescale.sampling.fit import prepare_runs, resolve_spec
from tests.conftest import TRUTH, simulate_runs


def _model(runs, **kw):
    spec = resolve_spec("chinchilla", **kw)
    table = prepare_runs(runs, spec, None, 6.0)
    return build_model(table, spec, reference=resolve_reference(table, spec))


def _hierarchy(groups: int, **kw):
    sim = simulate_hierarchy(groups, n_sizes=2, n_ratios=2, seed=1)  # 4 runs per group
    return _model(sim.runs, groups=["family"], **kw)


def test_free_dimension_is_the_size_of_the_initial_point():
    """Counted from shapes and named dimensions, without compiling; the same number as the
    flat vector NUTS samples (the initial point in unconstrained space)."""
    for model in (_model(simulate_runs("chinchilla", TRUTH["chinchilla"], seed=0)),
                  _hierarchy(8), _hierarchy(8, coordinates="natural")):
        point = model.initial_point()
        assert free_dimension(model) == sum(v.size for v in point.values())


def test_single_law_and_small_hierarchies_keep_low_rank():
    """The Chinchilla single fit (7 dimensions) and hierarchies up to Porian's 15 set-ups (83,
    where the two adaptations tie) keep the low-rank correction."""
    single = _model(simulate_runs("chinchilla", TRUTH["chinchilla"], seed=0))
    assert free_dimension(single) == 7
    assert nutpie_adaptation(single) == "low_rank"
    for groups in (8, 15, 18):
        model = _hierarchy(groups)
        assert free_dimension(model) == 5 * groups + 8  # 5 per group, 6 population, 2 noise
        assert nutpie_adaptation(model) == "low_rank"


@pytest.mark.parametrize("groups", [19, 24, 100])
def test_large_hierarchies_use_diag(groups):
    """From 19 groups (103 dimensions) on: Gadre's 24 cells (128) and the issue-12 benchmark's
    100 groups (508) sample with the diagonal matrix."""
    model = _hierarchy(groups)
    assert free_dimension(model) == 5 * groups + 8
    assert nutpie_adaptation(model) == "diag"


@pytest.mark.parametrize("extra, expected", [(0, "low_rank"), (1, "diag")])
def test_threshold_is_on_the_free_dimension(extra, expected):
    """The rule reads the unconstrained dimension only: a vector of LOW_RANK_MAX_DIM + extra
    normals, transformed or not, whatever the data."""
    with pm.Model(coords={"g": range(LOW_RANK_MAX_DIM - 2 + extra)}) as model:
        pm.Normal("z", dims="g")
        pm.HalfNormal("tau")
        pm.Beta("p", 2, 2)  # interval transform: one dimension
    assert free_dimension(model) == LOW_RANK_MAX_DIM + extra
    assert nutpie_adaptation(model) == expected
