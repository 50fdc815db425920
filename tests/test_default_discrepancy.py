"""The default discrepancy of a fit: the empirical prior updated by the fit's own runs.

Real fits (small draws): the inner leave-future-out fits run once per fit, the result is the
same object every prediction, decision and saved file uses, and where the runs allow no inner
split the prior alone is used with a note that says what to pass instead.
"""

from __future__ import annotations

import numpy as np
import pytest

import bayescale as bs


@pytest.fixture(scope="module")
def small_fit(chinchilla_runs):
    return bs.fit(chinchilla_runs, "chinchilla", draws=200, tune=200, chains=2, seed=3,
                  progressbar=False)


def _width95(fit, discrepancy):
    t = fit.predict(N=7e10, D=1.4e12, noise=True, ci=(0.95,), discrepancy=discrepancy).table
    return float(t["hi_95"].iloc[0] - t["lo_95"].iloc[0])


def test_the_default_is_the_prior_updated_by_the_runs_own_splits(small_fit):
    """True means the fit's own discrepancy: learned once from two inner splits of its runs,
    narrower than the prior alone at the Gopher run (the Chinchilla law extrapolates well
    within its runs) and wider than the law's own posterior."""
    disc = small_fit.default_discrepancy()
    assert disc.source.startswith("empirical prior updated by")
    assert disc.residuals["split"].nunique() == 2 and not disc.note
    assert small_fit.default_discrepancy() is disc  # learned once, kept on the fit
    default, prior, off = (_width95(small_fit, d) for d in (True, "prior", False))
    assert default == _width95(small_fit, disc)
    assert off < default < 0.8 * prior
    # the decisions use the same draws
    p = bs.prob_target(small_fit, 2.0, budgets=5.76e23, seed=0)
    assert p == bs.prob_target(small_fit, 2.0, budgets=5.76e23, seed=0, discrepancy=disc)


def test_saved_fits_keep_the_learned_discrepancy(small_fit, tmp_path, monkeypatch):
    """The saved file carries the learned draws: the reloaded fit predicts the same without
    refitting the inner splits."""
    small_fit.default_discrepancy()
    path = small_fit.save(tmp_path / "fit.nc")
    import bayescale.evaluation.discrepancy as ev

    def no_refit(*args, **kwargs):
        raise AssertionError("the reloaded fit refitted its inner splits")

    monkeypatch.setattr(ev, "learn_discrepancy", no_refit)
    back = bs.load_fit(path)
    a, b = small_fit.default_discrepancy(), back.default_discrepancy()
    for name in ("kappa", "kappa_tpp", "nu", "bias"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert (a.source, a.train_max, a.tpp_range) == (b.source, b.train_max, b.tpp_range)
    assert a.residuals.equals(b.residuals)
    assert _width95(back, True) == _width95(small_fit, True)


def test_runs_too_few_to_split_use_the_prior_alone_and_say_what_to_pass(chinchilla_runs):
    """A 16-run sweep leaves no inner split with the default min_train (17 for the Chinchilla
    law): the prior alone is used, its note names min_train=, and the report says so."""
    runs = chinchilla_runs.sort_values("C").iloc[::15].reset_index(drop=True)
    assert len(runs) == 16
    fit = bs.fit(runs, "chinchilla", draws=150, tune=150, chains=2, seed=0, progressbar=False,
                 retry=False, warn=False)
    disc = fit.default_discrepancy()
    assert disc.source == "empirical prior"
    assert "min_train=" in disc.note and "min_train=" in str(disc)
    assert _width95(fit, True) == _width95(fit, "prior")
    from bayescale.report.risk import build_report

    html = build_report(fit, budgets=[5.76e23], loo=False, dpi=30).to_html()
    assert "too few, or span too little compute" in html


def test_learning_the_default_says_so_where_the_user_looks(chinchilla_runs, capsys, caplog,
                                                           monkeypatch):
    """The first prediction beyond the runs learns the default (seconds; a hierarchy about 2 per
    group): a fit made with a progress bar (a notebook's) says so on stderr, a quiet one does
    not, and where the ``bayescale`` logger shows INFO (the command line) it goes there once."""
    import logging

    # a notebook's logging: nothing shows bayescale's INFO (an earlier CLI test in this
    # process may have given the logger its stderr handler)
    log = logging.getLogger("bayescale")
    monkeypatch.setattr(log, "handlers", [])
    monkeypatch.setattr(log, "level", logging.NOTSET)
    runs = chinchilla_runs.sort_values("C").iloc[::15].reset_index(drop=True)
    kw = dict(draws=100, tune=100, chains=2, seed=0, retry=False, warn=False)
    loud = bs.fit(runs, "chinchilla", progressbar=True, **kw)
    quiet = bs.fit(runs, "chinchilla", progressbar=False, **kw)
    capsys.readouterr()
    loud.default_discrepancy()
    err = capsys.readouterr().err
    assert "bayescale: learning the discrepancy from leave-future-out splits" in err
    assert "bayescale: discrepancy: empirical prior" in err and "min_train=" in err
    quiet.default_discrepancy()
    assert "learning the discrepancy" not in capsys.readouterr().err
    loud._fit_discrepancy = None
    with caplog.at_level(logging.INFO, logger="bayescale"):
        loud.default_discrepancy()
    assert "learning the discrepancy" not in capsys.readouterr().err
    assert sum("learning the discrepancy" in r.getMessage() for r in caplog.records) == 1


def test_an_unknown_discrepancy_names_the_choices(chinchilla_fit):
    with pytest.raises(ValueError, match="'prior' \\(the empirical prior alone\\)"):
        chinchilla_fit.predict(N=7e10, D=1.4e12, discrepancy="learned")


def test_each_group_of_a_hierarchy_gets_its_own_and_a_new_group_the_prior(tmp_path):
    """The groups of a hierarchy are cells of one study: each observed group's default is the
    prior updated by its own splits, learned when that group is first asked for (alone, the
    same in any order), a new group's the prior alone; a saved fit keeps them."""
    from bayescale.data.synthetic import simulate_hierarchy

    runs = simulate_hierarchy(2, n_sizes=6, n_ratios=4, sizes=(1e7, 3e9), seed=2).runs
    fit = bs.fit(runs, "chinchilla", groups="family", draws=150, tune=150, chains=2, seed=1,
                 progressbar=False, retry=False, warn=False)
    unlearned = bs.load_fit(fit.save(tmp_path / "unlearned.nc"))
    # a group is learned when first asked for, alone, and in any order gives the same
    first, second = fit.groups[1], fit.groups[0]
    fit.default_discrepancy(first)
    assert list(fit._fit_discrepancy) == [first]
    fit.default_discrepancy("new")
    assert list(fit._fit_discrepancy) == [first]
    own = {g: fit.default_discrepancy(g) for g in fit.groups}
    assert list(fit._fit_discrepancy) == [second, first]  # kept in the fit's group order
    unlearned.default_discrepancy()  # None learns every group, in order
    for g, disc in own.items():
        assert np.array_equal(unlearned.default_discrepancy(g).kappa, disc.kappa)
    for g, disc in own.items():
        assert disc.source.startswith("empirical prior updated by"), (g, disc.source)
        assert set(disc.residuals["split"].str.split(":").str[0]) == {"all"}  # its runs alone
    assert not np.array_equal(*(d.kappa for d in own.values()))
    new = fit.default_discrepancy("new")
    assert new.source == "empirical prior" and "new cell" in new.note
    back = bs.load_fit(fit.save(tmp_path / "h.nc"))
    for g, disc in own.items():
        assert np.array_equal(back.default_discrepancy(g).kappa, disc.kappa)


def test_an_update_by_many_splits_goes_on_by_adaptive_importance_sampling():
    """Twelve splits that agree on a small kappa leave few of the prior's draws with weight;
    given the population they came from, the update refines them until the effective sample
    size reaches min_ess (the same posterior median within noise); with few splits, whose
    first step is enough, nothing changes."""
    import pandas as pd

    from bayescale.posterior.discrepancy import empirical_prior, update_discrepancy

    rng = np.random.default_rng(0)
    n = 12 * 15
    res = pd.DataFrame({"split": np.repeat([f"s{i:02d}" for i in range(12)], 15),
                        "d_C": np.tile(np.linspace(0.2, 1.2, 15), 12), "d_T": 0.0,
                        "scale": 0.01, "noise": 0.01, "nu": 30.0, "law_1": 0.0, "law_2": 0.0})
    res["residual"] = 0.01 * rng.standard_normal(n) + np.repeat(
        0.03 * rng.standard_normal(12), 15) * res["d_C"]
    pop = empirical_prior()
    runs = pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10], "C": [1.2e18, 1.2e20]})
    start = pop.discrepancy(runs, n_draws=4000, seed=0)
    plain = update_discrepancy(start, res, n_draws=1000, seed=0)
    adaptive = update_discrepancy(start, res, n_draws=1000, seed=0, population=pop,
                                  min_ess=2000)
    ess = [float(d.source.split("ESS ")[1].split(" ")[0]) for d in (plain, adaptive)]
    assert ess[0] < 1000 and ess[1] > 2 * ess[0], ess  # measured 515 and 2,717 of 4,000
    assert "adaptive importance sampling" in adaptive.source
    assert np.median(adaptive.kappa) == pytest.approx(np.median(plain.kappa), rel=0.25)
    few = res[res["split"] < "s02"]
    assert np.array_equal(update_discrepancy(start, few, n_draws=1000, seed=0).kappa,
                          update_discrepancy(start, few, n_draws=1000, seed=0,
                                             population=pop).kappa)
    with pytest.raises(ValueError, match="not drawn from population"):
        update_discrepancy(pop.discrepancy(runs, n_draws=4000, seed=1), res, n_draws=1000,
                           seed=0, population=pop)


def test_failed_held_out_runs_are_left_to_the_failure_model():
    """A held-out run of an inner split that blew up (flagged ``failed``) does not teach the
    update how the curve bends: the update equals the one without those rows, says how many
    it left out, and keeps them in its record.  (Counted, Muennighoff et al.'s many-epoch
    blow-ups left a hierarchy group's update at an effective sample size of 19 of 16,000.)"""
    import pandas as pd

    from bayescale.posterior.discrepancy import empirical_prior, update_discrepancy

    rng = np.random.default_rng(1)
    res = pd.DataFrame({"split": np.repeat(["s0", "s1"], 15),
                        "d_C": np.tile(np.linspace(0.2, 1.2, 15), 2), "d_T": 0.0,
                        "scale": 0.01, "noise": 0.01, "nu": 30.0, "law_1": 0.0, "law_2": 0.0})
    res["residual"] = 0.01 * rng.standard_normal(len(res))
    blown = res.iloc[[3, 9, 20]].assign(residual=1.0)
    both = pd.concat([res.assign(failed=False), blown.assign(failed=True)],
                     ignore_index=True)
    pop = empirical_prior()
    runs = pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10], "C": [1.2e18, 1.2e20]})
    start = pop.discrepancy(runs, n_draws=4000, seed=0)
    clean = update_discrepancy(start, res, n_draws=1000, seed=0, population=pop)
    flagged = update_discrepancy(start, both, n_draws=1000, seed=0, population=pop)
    assert np.array_equal(flagged.kappa, clean.kappa)
    assert "3 failed held-out runs left to the failure model" in flagged.source
    assert len(flagged.residuals) == len(both)  # the record keeps them, flagged


def test_forecast_draws_flags_held_out_runs_that_failed(chinchilla_runs):
    """The inner fits' rule is the fit's own (more than 8 robust sd of its residuals above the
    curve): two held-out runs lifted by 0.5 log loss are flagged, the rest are not."""
    from bayescale.evaluation.discrepancy import forecast_draws
    from bayescale.sampling.fit import resolve_spec

    train = chinchilla_runs[chinchilla_runs["C"] <= 1e21]
    test = chinchilla_runs[chinchilla_runs["C"] > 1e21].copy()
    bump = np.zeros(len(test), dtype=bool)
    bump[[0, len(test) - 1]] = True
    test.loc[bump, "loss"] = test.loc[bump, "loss"] * np.exp(0.5)
    fc = forecast_draws(train, test, spec=resolve_spec("chinchilla"), seed=0, draws=200,
                        tune=200, chains=2, progressbar=False, prior_draws=0, warn=False)
    assert fc["failed"].tolist() == bump.tolist()


def test_an_update_that_rests_on_few_draws_says_so():
    """Thirty splits that agree on a tiny kappa, one importance step and no population to
    refine from: the weights sit on a few prior draws, and the update warns, naming what to do
    (measured ESS 1 of 4,000; 68 with the population's four adaptive stages, 30-63 with 8-12:
    more stages stall there, so the warning does not offer them)."""
    import pandas as pd

    from bayescale.errors import ConvergenceWarning
    from bayescale.posterior.discrepancy import MIN_UPDATE_ESS, empirical_prior, update_discrepancy

    rng = np.random.default_rng(2)
    n = 30 * 15
    res = pd.DataFrame({"split": np.repeat([f"s{i:02d}" for i in range(30)], 15),
                        "d_C": np.tile(np.linspace(0.2, 1.2, 15), 30), "d_T": 0.0,
                        "scale": 0.002, "noise": 0.002, "nu": 30.0, "law_1": 0.0,
                        "law_2": 0.0})
    res["residual"] = 0.002 * rng.standard_normal(n)
    runs = pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10], "C": [1.2e18, 1.2e20]})
    start = empirical_prior().discrepancy(runs, n_draws=4000, seed=0)
    with pytest.warns(ConvergenceWarning, match="rests on few draws .*discrepancy='prior'"):
        post = update_discrepancy(start, res, n_draws=1000, seed=0)
    assert float(post.source.split("ESS ")[1].split(" ")[0]) < MIN_UPDATE_ESS
