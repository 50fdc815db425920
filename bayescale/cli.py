"""Command-line interface: a thin shell over the public API.

Commands::

    bayescale demo [--out DIR]                  fit the bundled Chinchilla runs and write a report
    bayescale fit RUNS --law chinchilla --out FIT.nc [--spec FILE] [--columns a=N,b=loss]
                  [--groups family [--pooling beta=shared,E=independent]]
    bayescale summary FIT.nc
    bayescale predict FIT.nc --N 1e10 --D 2e11 [--noise] [--group G]
    bayescale predict FIT.nc --C 1e22 | --points points.csv [--out predictions.csv]
    bayescale report RUNS_OR_FIT --budget 5.76e23 [--target-loss 2.0] [--plan N,D] -o report.html
                     [--prior-discrepancy | --no-discrepancy]   (also on predict and allocate)
    bayescale allocate FIT.nc --budget 1e22,1e23 [--ci 0.5,0.95]
    bayescale design FIT.nc --budget 5.76e23 --pilot 1e21 [--decision allocation]
                     [--candidates runs.csv | --isoflop 1e19,1e20] [--out t.csv] [--plot p.png]
    bayescale compare RUNS --laws chinchilla,datablations [--logo COLUMN] [--backtest]
                      [--out table.csv]
    bayescale backtest RUNS --laws chinchilla,datablations [--cutoffs 1e20,1e21] [--discrepancy]
                       [--baseline] [--out backtest.csv] [--plot backtest.png]
    bayescale datasets                          list bundled datasets
    bayescale spec LAW                          print a built-in spec (copy it and edit)
    bayescale sbc --law chinchilla --sims 100 [--groups family] [--out ranks.csv] [--plot sbc.png]

Errors go to stderr as one sentence with a non-zero exit status; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bayescale.files import atomic_path, atomic_write_text

__all__ = ["main"]


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers like 1e9,3e9, not {text!r}"
        ) from None


def _mapping(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise argparse.ArgumentTypeError(
                f"expected renames like params=N,tokens=D, not {part!r}"
            )
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _pooling(text: str) -> dict[str, str]:
    """``--pooling beta=shared,E=independent`` as the ``pooling=`` mapping of ``bayescale.fit``."""
    from bayescale.modeling.spec import POOLING

    out = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep or not k.strip() or v.strip() not in POOLING:
            raise argparse.ArgumentTypeError(
                f"expected parameter=mode pairs with mode one of {', '.join(POOLING)}, e.g. "
                f"beta=shared,E=independent; not {part!r}")
        out[k.strip()] = v.strip()
    return out


def _add_pooling(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pooling", type=_pooling, default=None,
                   help="hierarchies: per parameter shared (one value), pooled (partial "
                   "pooling, the default for exponents and offsets) or independent across "
                   "groups, e.g. beta=shared,E=independent")


def _add_discrepancy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-discrepancy", action="store_true",
                   help="the law's posterior alone: without the extrapolation discrepancy that "
                   "widens forecasts beyond the runs (on by default)")
    p.add_argument("--prior-discrepancy", action="store_true",
                   help="the discrepancy's empirical prior alone (a study like none seen yet: "
                   "wider than most studies need), without the default update by the runs' own "
                   "leave-future-out splits (two inner fits of the law)")
    # the default since 2026-12-02; kept so that scripts written before still run
    p.add_argument("--learn-discrepancy", action="store_true", help=argparse.SUPPRESS)


def _add_sampling(p: argparse.ArgumentParser, draws: int = 1000) -> None:
    # unset flags stay None: the Python function's own default applies (_sampling_options)
    p.add_argument("--draws", type=int, default=None,
                   help=f"posterior draws per chain (default {draws})")
    p.add_argument("--tune", type=int, default=None,
                   help=f"warm-up iterations per chain (default {draws})")
    p.add_argument("--chains", type=int, default=None, help="chains (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampler", choices=("nutpie", "pymc"), default=None,
                   help="NUTS implementation (default nutpie)")
    p.add_argument("--target-accept", type=float, default=None,
                   help="NUTS target acceptance (default: the law's own, 0.9 or 0.99)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-retry", action="store_true",
                   help="do not refit a fit that fails its diagnostics (by default it is refitted "
                        "with the remedy for the failure: divergences -> target_accept 0.99, or "
                        "in a hierarchy weakly pinned exponents non-centred; R-hat/ESS -> twice "
                        "the draws; a refit that still mixes slowly -> the draws its ESS asks "
                        "for, up to 8,000, at target_accept 0.95)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayescale",
        description="Bayesian scaling laws: posteriors, extrapolation and budget decisions.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="fit the bundled Chinchilla runs and write a report")
    p.add_argument("--out", default="bayescale-demo", help="output folder")
    _add_sampling(p)

    p = sub.add_parser("fit", help="fit a law to a runs table (CSV / Parquet) and save it with its "
                       "default discrepancy (the empirical prior updated by two inner fits)")
    p.add_argument("runs", help="runs table file, or dataset:NAME for a bundled dataset")
    p.add_argument("--law", default=None, help="law or built-in spec name (default chinchilla)")
    p.add_argument("--spec", default=None, help="TOML spec file (see models/)")
    p.add_argument("--columns", type=_mapping, default=None, help="renames, e.g. params=N,val=loss")
    p.add_argument("--flops", type=float, default=6.0, help="FLOPs per parameter per token")
    p.add_argument("--groups", default=None, help="grouping column(s), comma-separated")
    p.add_argument("--grouping", choices=("combined", "nested", "crossed"), default=None,
                   help="how two or more grouping columns combine (default combined)")
    p.add_argument("--likelihood", choices=("normal", "student_t"), default=None)
    _add_pooling(p)
    _add_envelope(p)
    p.add_argument("--out", required=True, help="output netCDF file for the fit")
    _add_sampling(p)

    p = sub.add_parser("summary", help="print the posterior summary of a saved fit")
    p.add_argument("fit")
    p.add_argument("--ci", type=float, default=0.95)

    p = sub.add_parser("predict", help="posterior predictive loss at new N, D or C",
                       description="Predicted loss with intervals at new points: N and D, or "
                       "C alone (for a law of N and D: each posterior draw trains at its own "
                       "compute-optimal split of C).")
    p.add_argument("fit")
    p.add_argument("--N", type=_floats, default=None, help="parameters, e.g. 7e10 or 1e9,1e10")
    p.add_argument("--D", type=_floats, default=None, help="training tokens")
    p.add_argument("--C", type=_floats, default=None,
                   help="training FLOPs (alone: the loss at the compute-optimal split)")
    p.add_argument("--points", default=None,
                   help="CSV / Parquet file of points: columns N and D, or C alone (other "
                   "columns are copied to the output)")
    p.add_argument("--out", default=None, help="write the table to this .csv or .parquet file")
    p.add_argument("--group", default=None, help="group label, or 'new' (hierarchical fits)")
    p.add_argument("--noise", action="store_true", help="include run-to-run noise (a new run)")
    p.add_argument("--ci", type=_floats, default=[0.5, 0.8, 0.95], help="interval levels")
    p.add_argument("--seed", type=int, default=0)
    _add_discrepancy(p)

    p = sub.add_parser("report", help="write a risk report (HTML + Markdown) for a budget")
    p.add_argument("source", metavar="RUNS_OR_FIT",
                   help="a saved fit (.nc), a runs table (CSV / Parquet), or dataset:NAME")
    p.add_argument("--budget", "--C", dest="budget", type=_floats, default=None,
                   help="training FLOPs, e.g. 5.76e23 or 1e22,1e23 (--C, as in predict, works "
                   "too)")
    p.add_argument("--target-loss", type=float, default=None, help="a loss to reach (nats)")
    p.add_argument("--plan", type=_floats, default=None,
                   help="your run as N,D (parameters,tokens), e.g. 7e10,1.4e12")
    p.add_argument("--prob", type=float, default=0.9, help="probability required of the target")
    p.add_argument("--ci", type=float, default=0.95, help="credible interval level")
    p.add_argument("--group", default=None, help="group label, or 'new' (hierarchical fits)")
    p.add_argument("--inference-tokens", type=float, default=None,
                   help="lifetime inference tokens (with --target-loss)")
    p.add_argument("--no-loo", action="store_true", help="skip leave-one-out cross-validation")
    p.add_argument("--pilot", type=float, default=None,
                   help="also recommend pilot runs costing this many FLOPs in total (section "
                   "'What to run next'; the decision is N* at the first --budget)")
    _add_discrepancy(p)
    p.add_argument("--no-markdown", action="store_true", help="write the HTML file only")
    p.add_argument("-o", "--out", default="report.html", help="output HTML file")
    p.add_argument("--law", default=None, help="law to fit a runs table with (default chinchilla)")
    p.add_argument("--spec", default=None, help="TOML spec file to fit a runs table with")
    p.add_argument("--columns", type=_mapping, default=None, help="renames, e.g. params=N,val=loss")
    p.add_argument("--save-fit", default=None, help="also save the fit of a runs table here")
    p.add_argument("--groups", default=None,
                   help="grouping column(s) to fit a runs table with, comma-separated (a "
                   "hierarchy; then --group names the group the report is about, or 'new')")
    _add_pooling(p)
    _add_envelope(p)
    _add_sampling(p)

    p = sub.add_parser("allocate", help="print the compute-optimal allocation of a saved fit")
    p.add_argument("fit")
    p.add_argument("--budget", "--C", dest="budget", type=_floats, required=True,
                   help="training FLOPs, e.g. 1e22,1e23 (--C, as in predict, works too)")
    p.add_argument("--ci", type=_floats, default=[0.5, 0.8, 0.95], help="interval levels")
    p.add_argument("--group", default=None, help="group label, or 'new' (hierarchical fits)")
    p.add_argument("--flops-per-token", type=float, default=None,
                   help="k in C = k N D (default: the fit's own convention)")
    p.add_argument("--unique-tokens", type=_floats, default=None,
                   help="cap on unique tokens (one, or one per budget): the compute-optimal "
                        "plan of a data-constrained fit (--law datablations) when data must "
                        "repeat (bayescale.allocate_capped)")
    _add_discrepancy(p)

    p = sub.add_parser("design", help="which pilot runs to train next (value per FLOP)",
                       description="Recommend a batch of pilot runs that narrows a decision "
                       "(the compute-optimal N* at --budget by default) most per FLOP, by "
                       "preposterior importance sampling on the fit's draws (bayescale.next_runs).")
    p.add_argument("fit")
    p.add_argument("--budget", "--C", dest="budget", type=float, default=None,
                   help="training FLOPs of the decision, e.g. 5.76e23 (or --C)")
    p.add_argument("--pilot", type=float, required=True,
                   help="total FLOPs for the pilot runs, e.g. 1e21 (each run costs at most this)")
    p.add_argument("--decision", choices=("allocation", "prob_target", "forecast"),
                   default="allocation", help="what to be surer about (default: N* at --budget)")
    p.add_argument("--target-loss", type=float, default=None, help="loss target (prob_target)")
    p.add_argument("--plan", type=_floats, default=None, help="planned run N,D (forecast)")
    p.add_argument("--candidates", default=None,
                   help="CSV / Parquet file of candidate runs (columns N and D, or C with one; "
                   "group for a hierarchical fit); default: a grid around the data")
    p.add_argument("--isoflop", type=_floats, default=None,
                   help="candidates on isoFLOP curves at these budgets, e.g. 1e19,1e20")
    p.add_argument("--group", default=None,
                   help="group(s) whose decision matters, comma-separated (hierarchical fits)")
    p.add_argument("--spread", choices=("ci95", "ci80", "sd"), default="ci95")
    p.add_argument("--outcomes", type=int, default=128, help="simulated outcomes per run")
    p.add_argument("--max-draws", type=int, default=1000, help="posterior draws used")
    p.add_argument("--max-runs", type=int, default=None, help="at most this many runs")
    p.add_argument("--flops-per-token", type=float, default=None,
                   help="k in C = k N D (default: the fit's own convention)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="CSV file for every candidate's value")
    p.add_argument("--plot", default=None, help="PNG file for the (N, D) plot of the design")

    p = sub.add_parser("sbc", help="simulation-based calibration of a law's fit (slow)",
                       description="Simulation-based calibration (Talts et al. 2018): fit the "
                       "law to --sims data sets simulated from its prior and test that the ranks "
                       "of the true parameters among the posterior draws are uniform.")
    p.add_argument("--law", default="chinchilla", help="law or built-in spec name")
    p.add_argument("--spec", default=None, help="TOML spec file instead of --law")
    p.add_argument("--sims", type=int, default=100, help="simulated data sets (>= 100 advised)")
    p.add_argument("--groups", default=None,
                   help="calibrate the hierarchical model grouped by this column (the default "
                   "design then has --n-groups groups)")
    p.add_argument("--n-groups", type=int, default=3, help="groups in the default design")
    p.add_argument("--design", default=None,
                   help="runs table whose inputs (N, D, C, groups) to simulate at")
    p.add_argument("--ranks", type=int, default=100, help="possible rank values (thinned draws+1)")
    p.add_argument("--out", default=None, help="CSV file for the ranks")
    p.add_argument("--plot", default=None, help="PNG file for the ECDF-difference plot")
    _add_sampling(p)

    p = sub.add_parser("compare", help="compare laws fitted to the same runs by PSIS-LOO",
                       description="Fit each law to the runs and compare them by PSIS-LOO "
                       "(ArviZ's table: elpd, se, differences, stacking weights); runs with "
                       "high Pareto k are listed by name.  With --backtest the laws are also "
                       "scored on held-out larger runs (leave-future-out), and the comparison "
                       "says which ranking answers an extrapolation question.")
    p.add_argument("runs", help="runs table file, or dataset:NAME for a bundled dataset")
    p.add_argument("--laws", required=True, help="comma-separated laws or spec files")
    p.add_argument("--logo", default=None,
                   help="leave one group out: column(s) whose groups are left out together")
    p.add_argument("--backtest", action="store_true",
                   help="also rank the laws by a leave-future-out backtest on the larger runs "
                   "(bayescale backtest's defaults; slower: one fit per law and cutoff)")
    p.add_argument("--cutoffs", type=_floats, default=None,
                   help="with --backtest: values of C to train below (default: 0.5, 1, 1.5 "
                   "decades below the largest run)")
    _add_fit_options(p)
    p.add_argument("--out", default=None, help="CSV file for the comparison table")
    _add_sampling(p)

    p = sub.add_parser("backtest", help="leave-future-out backtest of laws on the larger runs",
                       description="Fit each law on the runs below each cutoff and score the "
                       "held-out larger runs: log predictive density, error of the median, "
                       "interval coverage.")
    p.add_argument("runs", help="runs table file, or dataset:NAME for a bundled dataset")
    p.add_argument("--laws", required=True, help="comma-separated laws or spec files")
    p.add_argument("--cutoffs", type=_floats, default=None,
                   help="values of --by to train below (default: 0.5, 1, 1.5 decades below "
                   "the largest run)")
    p.add_argument("--by", choices=("C", "N"), default="C", help="split by compute or by N")
    p.add_argument("--discrepancy", action="store_true",
                   help="also score with the extrapolation discrepancy term (nested LFO)")
    p.add_argument("--baseline", action="store_true",
                   help="also score the Huber point fit + bootstrap anchor")
    _add_fit_options(p)
    p.add_argument("--out", default=None, help="CSV file for the per-run backtest table")
    p.add_argument("--plot", default=None, help="PNG file for the backtest plot")
    _add_sampling(p, draws=400)  # bayescale.backtest's own defaults (400 + 400)

    sub.add_parser("datasets", help="list the bundled datasets")
    p = sub.add_parser("spec", help="print a built-in model spec as TOML")
    p.add_argument("law")
    return parser


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--columns", type=_mapping, default=None, help="renames, e.g. params=N,val=loss")
    p.add_argument("--flops", type=float, default=6.0, help="FLOPs per parameter per token")
    p.add_argument("--groups", default=None, help="grouping column(s) of hierarchical fits")


def _laws_arg(text: str) -> list[str]:
    laws = [x.strip() for x in text.split(",") if x.strip()]
    if not laws:
        raise ValueError("--laws is empty; name laws like --laws chinchilla,datablations")
    return laws


def _add_envelope(p: argparse.ArgumentParser) -> None:
    p.add_argument("--envelope", action="store_true",
                   help="fit the best run at each design point (the law's inputs, and the "
                   "groups), as isoFLOP analyses do: the remedy the mixed-set-up warning offers "
                   "for a sweep of learning rates or schedules (bayescale.data.runs.envelope)")


def _load_runs(arg: str):
    from bayescale import datasets

    if arg.startswith("dataset:"):
        return datasets.load(arg.split(":", 1)[1])
    return arg


def _runs_for_fit(source: str, a: argparse.Namespace, groups: list[str] | None = None):
    """``(runs, columns)`` for ``bayescale.fit``: the runs argument as given, or, with
    ``--envelope``, its best run at each design point (renamed first, so the law's names hold)."""
    runs = _load_runs(source)
    if not getattr(a, "envelope", False):
        return runs, a.columns
    from bayescale.data.runs import design_point, envelope, read_runs
    from bayescale.sampling.fit import resolve_spec

    table = runs if not isinstance(runs, str) else read_runs(runs)
    if a.columns:
        table = table.rename(columns=a.columns)
    if {"N", "D"} <= set(table.columns):  # the points the mixed-set-up warning names
        by = design_point(table, groups or ())
    else:  # a law of C alone, say: its inputs
        by = [*resolve_spec(a.law, a.spec).law_obj.inputs, *(groups or [])]
    kept = envelope(table, by=by)
    print(f"bayescale: --envelope kept the best of {len(table)} runs at each of {len(kept)} "
          f"points ({', '.join(by)})", file=sys.stderr)
    return kept, None


def _sampling_options(a: argparse.Namespace):
    """The flags ``--draws --tune --chains --sampler --target-accept --no-progress`` as one
    :class:`~bayescale.sampling.SamplingOptions`, the object every sampling command passes on
    (to ``bayescale.fit``, ``backtest`` and ``sbc``).  A flag not given stays None, so the
    receiving function's own default applies: ``bayescale.fit``'s 4 chains x 1000 draws + 1000
    warm-up, the backtest's 400 + 400 per fit, the law's own target acceptance.

    Examples
    --------
    >>> a = _parser().parse_args(["fit", "runs.csv", "--out", "f.nc", "--draws", "500"])
    >>> _sampling_options(a)
    SamplingOptions(draws=500, tune=None, chains=None, cores=None, sampler=None, \
target_accept=None, progressbar=True)
    """
    from bayescale.sampling.options import SamplingOptions

    return SamplingOptions(draws=a.draws, tune=a.tune, chains=a.chains, sampler=a.sampler,
                           target_accept=a.target_accept, progressbar=not a.no_progress)


def _sampling_kwargs(a: argparse.Namespace) -> dict:
    return dict(seed=a.seed, retry=not a.no_retry, sampling=_sampling_options(a))


def _plan(a: argparse.Namespace) -> tuple[float, float] | None:
    """``--plan N,D`` as a pair, or None; one message when it is not two numbers."""
    if a.plan is None:
        return None
    if len(a.plan) != 2:
        raise ValueError(f"--plan takes two numbers N,D (parameters, tokens), e.g. "
                         f"7e10,1.4e12; got {len(a.plan)} numbers")
    return (a.plan[0], a.plan[1])


def _discrepancy(a: argparse.Namespace, fit: Any) -> Any:
    """The ``discrepancy=`` of a command: off (``--no-discrepancy``), the empirical prior alone
    (``--prior-discrepancy``) or, by default, the fit's own: the prior updated by the runs'
    leave-future-out splits (:meth:`ScalingFit.default_discrepancy`; its inner fits say on
    stderr what they learn, when the command first needs it)."""
    chosen = [flag for flag, on in (("--no-discrepancy", a.no_discrepancy),
                                    ("--prior-discrepancy", a.prior_discrepancy),
                                    ("--learn-discrepancy", a.learn_discrepancy)) if on]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)} contradict each other; give one of them")
    if a.no_discrepancy:
        return False
    return "prior" if a.prior_discrepancy else True


def _cmd_fit(a: argparse.Namespace) -> int:
    import bayescale as bs

    groups = a.groups.split(",") if a.groups else None
    runs, columns = _runs_for_fit(a.runs, a, groups)
    fit = bs.fit(runs, a.law, spec=a.spec, columns=columns, flops=a.flops,
                 groups=groups, grouping=a.grouping, likelihood=a.likelihood,
                 pooling=a.pooling, **_sampling_kwargs(a))
    # learned once here and saved with the fit, so predict, allocate and report reuse it
    fit.default_discrepancy()
    path = fit.save(a.out)
    # the data warnings were printed as they were raised
    print(_as_flags(fit.describe(data_warnings=False)))
    print(f"saved the fit to {path}")
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import bayescale as bs
    from bayescale.plots.fit_plot import plot_fit

    out = Path(a.out)
    runs = bs.datasets.load("chinchilla", drop_outliers=True)
    print(f"fitting the Chinchilla law to {len(runs)} runs of Hoffmann et al. (2022) "
          "(the 5 highest-loss runs dropped, as Besiroglu et al. 2024 did)", file=sys.stderr)
    fit = bs.fit(runs, "chinchilla", **_sampling_kwargs(a))
    out.mkdir(parents=True, exist_ok=True)
    fit.default_discrepancy()  # saved with the fit: a report from the file reuses it
    fit.save(out / "chinchilla_fit.nc")
    fig = plot_fit(fit, extend=2.0)
    _save_figure(fig, out / "chinchilla_fit.png")
    try:
        from bayescale.report import write_report
    except ImportError:
        write_report = None
    if write_report is not None:
        # Gopher's budget, and Chinchilla's own choice (70B parameters on 1.4T tokens) as the plan
        write_report(fit, out / "report.html", budgets=[5.76e23], plan=(70e9, 1.4e12))
    pred = fit.predict(N=[70e9], D=[1.4e12], noise=True).table
    failed = fit.run_failures()
    summary = fit.summary()
    text = "\n".join([
        "# bayescale demo: Chinchilla law, Hoffmann et al. (2022) runs",
        "",
        f"{len(runs)} runs; law `{fit.law.formula}`; {fit.spec.likelihood} likelihood on log "
        "loss; NUTS (nutpie), "
        f"{fit.diagnostics.chains} chains x {fit.diagnostics.draws} draws, seed {a.seed}.",
        "",
        "## Posterior (95% equal-tailed intervals)",
        "",
        summary[["median", "lo_95", "hi_95", "r_hat", "ess_bulk"]].to_markdown(floatfmt=".4g")
        if _has_tabulate() else "```\n" + summary.to_string() + "\n```",
        "",
        "Besiroglu et al. (2024) report E 1.817 [1.769, 1.871], A 482 [285, 744], "
        "B 2085 [1042, 5810], alpha 0.348 [0.317, 0.373], beta 0.366 [0.331, 0.415].",
        "",
        "## Chinchilla itself (N = 70e9, D = 1.4e12), a new run's loss",
        "",
        "```",
        pred.to_string(index=False),
        "```",
        "",
        "Noise included: the spread of the runs around the law and, where some of them failed "
        f"(far above the curve), the chance that the new run fails like them: {failed}.",
        "",
        f"## Sampling diagnostics\n\n{fit.diagnostics}",
        "",
        "![fit](chinchilla_fit.png)",
        "",
    ])
    atomic_write_text(out / "summary.md", text)
    print(_as_flags(fit.describe(data_warnings=False)))  # warnings were printed as raised
    print(f"wrote {out / 'summary.md'}, {out / 'chinchilla_fit.png'}, "
          f"{out / 'chinchilla_fit.nc'}" + (f", {out / 'report.html'}" if write_report else ""))
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def _save_figure(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)


def _cmd_summary(a: argparse.Namespace) -> int:
    import bayescale as bs

    fit = bs.load_fit(a.fit)
    print(fit.summary(ci=a.ci).to_string(float_format=lambda x: f"{x:.4g}"))
    print(f"status: {fit.status}; {fit.diagnostics}")
    for line in fit.data_warning_lines():  # what the person who fitted it was told
        print(line)
    return 0


_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _table_suffix(path: str, option: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise ValueError(f"{option} {path}: give a .csv or .parquet file (got "
                         f"{suffix or 'no suffix'})")
    return suffix


def _read_points(path: str, inputs: Sequence[str]):
    """The points file as a table, with the law's input columns checked to be positive numbers."""
    import numpy as np
    import pandas as pd

    suffix = _table_suffix(path, "--points")
    if not Path(path).exists():
        raise FileNotFoundError(f"--points {path}: no such file")
    points = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    if points.empty:
        raise ValueError(f"--points {path} has no rows; give one point per row")
    for col in [c for c in ("N", "D", "C", *inputs) if c in points.columns]:
        values = pd.to_numeric(points[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            rows = ", ".join(str(i) for i in bad[:8]) + (" ..." if bad.size > 8 else "")
            raise ValueError(
                f"--points {path}: column {col!r} must hold positive numbers, but rows {rows} "
                f"(counting from 0 after the header) hold {points[col].iloc[bad[0]]!r}...; "
                "fix or drop those rows"
            )
        points[col] = values
    return points.reset_index(drop=True)


def _write_table(table, path: str) -> None:
    suffix = _table_suffix(path, "--out")
    with atomic_path(Path(path)) as tmp:
        if suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)


def _cmd_predict(a: argparse.Namespace) -> int:
    import pandas as pd

    import bayescale as bs

    if a.out:
        _table_suffix(a.out, "--out")  # fail before the work, not after
    fit = bs.load_fit(a.fit)
    law = fit.law
    given = {k: v for k, v in (("N", a.N), ("D", a.D), ("C", a.C)) if v is not None}
    carried = None
    if a.points:
        if given:
            raise ValueError("give the points either as --points FILE or as --N/--D/--C, "
                             "not both")
        points = _read_points(a.points, law.inputs)
        used = [c for c in ("N", "D", "C", *law.inputs) if c in points.columns]
        given = {c: points[c].to_numpy() for c in dict.fromkeys(used)}
        carried = points[[c for c in points.columns if c not in given]]
        if not ({"N", "D"} <= set(given) or "C" in given):
            raise ValueError(
                f"--points {a.points} has columns {list(points.columns)}; it needs N and D "
                "(parameters and tokens), or C (training FLOPs) alone"
            )
    nd = set(law.inputs) == {"N", "D"}
    disc = _discrepancy(a, fit)
    if nd and "C" in given and not ({"N", "D"} & set(given)):
        from bayescale.decisions.api import predict_optimal

        table = predict_optimal(fit, given["C"], noise=a.noise, ci=a.ci, group=a.group,
                                seed=a.seed, discrepancy=disc)
        if a.group is not None:
            table.insert(0, "group", a.group)
        print(("a new run's loss (run-to-run noise included)" if a.noise else "the law's loss")
              + " at the compute-optimal split of each C, per posterior draw; N, D and "
              "tokens_per_param are the medians of the per-draw optima")
    else:
        if nd and {"N", "D"} <= set(given):
            given.pop("C", None)  # N and D say which run; C = k N D adds nothing
        other = {k: v for k, v in given.items() if k not in ("N", "D", "C")}
        pred = fit.predict(N=given.get("N"), D=given.get("D"), C=given.get("C"), group=a.group,
                           noise=a.noise, ci=a.ci, seed=a.seed,
                           discrepancy=disc, **other)
        table = pred.table
    if carried is not None and len(carried.columns):
        table = pd.concat([carried, table.reset_index(drop=True)], axis=1)
    shown = table.drop(columns=["flag"], errors="ignore")
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if "flag" in table.columns:
        for c, flag in zip(table["C"], table["flag"], strict=True):
            if flag:
                print(f"flag: at C = {c:.3g} FLOPs {flag}: the split extrapolates the law's "
                      "trade-off between N and D beyond the runs")
    if a.out:
        _write_table(table, a.out)
        print(f"wrote {len(table)} predictions to {a.out}")
    return 0


def _cmd_report(a: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import bayescale as bs
    from bayescale.report import write_report

    if a.budget is None and a.plan is None:
        raise ValueError("give --budget FLOPS (e.g. --budget 5.76e23) and/or --plan N,D")
    plan = _plan(a)
    if a.source.lower().endswith((".nc", ".nc4", ".netcdf")):
        given = [f for f, on in (("--groups", a.groups), ("--envelope", a.envelope),
                                 ("--columns", a.columns), ("--law", a.law),
                                 ("--spec", a.spec), ("--pooling", a.pooling)) if on]
        if given:
            raise ValueError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for "
                             f"fitting a runs table, and {a.source} is a saved fit with its "
                             "own: drop it, or give the runs table instead")
        fit = bs.load_fit(a.source)
    else:
        from bayescale.report.risk import check_report_law
        from bayescale.sampling.fit import resolve_spec

        # before the fit: a law the report cannot plan with fails now, not after sampling
        check_report_law(resolve_spec(a.law, a.spec).law_obj)
        groups = a.groups.split(",") if a.groups else None
        runs, columns = _runs_for_fit(a.source, a, groups)
        fit = bs.fit(runs, a.law, spec=a.spec, columns=columns, groups=groups,
                     pooling=a.pooling, **_sampling_kwargs(a))
        if a.save_fit:
            if _discrepancy(a, fit) is True:  # saved with the fit, for later commands
                fit.default_discrepancy()
            print(f"saved the fit to {fit.save(a.save_fit)}", file=sys.stderr)
    pilot = None
    if a.pilot is not None:
        if not a.budget:
            raise ValueError("--pilot needs --budget (the decision is N* at the first budget)")
        pilot = bs.next_runs(fit, a.budget[0], pilot=a.pilot, group=a.group)
    files = write_report(fit, a.out, budgets=a.budget, target_loss=a.target_loss, plan=plan,
                         prob=a.prob, ci=a.ci, group=a.group,
                         inference_tokens=a.inference_tokens, loo=not a.no_loo,
                         markdown=not a.no_markdown, discrepancy=_discrepancy(a, fit),
                         next_runs=pilot)
    print(files.document.blocks[0].text)
    print(f"wrote {files.html}" + (f" and {files.markdown}" if files.markdown else ""))
    return 0


def _cmd_allocate(a: argparse.Namespace) -> int:
    import pandas as pd

    import bayescale as bs
    from bayescale.decisions import extrapolation

    fit = bs.load_fit(a.fit)
    if a.unique_tokens is not None:
        res = bs.allocate_capped(fit, a.budget, a.unique_tokens, ci=a.ci, group=a.group,
                                 flops_per_token=a.flops_per_token)
        print(res)
        return 0
    table = bs.allocate(fit, a.budget, ci=a.ci, group=a.group,
                        flops_per_token=a.flops_per_token, discrepancy=_discrepancy(a, fit))
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(table.drop(columns="flag").to_string(index=False,
                                                   float_format=lambda x: f"{x:.4g}"))
    per_budget = table.iloc[::table["quantity"].nunique()]  # the flag is the same per budget
    for c, flag in zip(per_budget["budget"], per_budget["flag"], strict=True):
        if flag:
            print(f"flag: at {c:.3g} FLOPs {flag}: the split extrapolates the law's trade-off "
                  "between N and D beyond the runs; add runs near that split before relying on it")
    for c, d in zip(a.budget, extrapolation(fit, a.budget, group=a.group), strict=True):
        if d > 0:
            print(f"note: {c:.3g} FLOPs is {d:.1f} orders of magnitude beyond the largest run; "
                  + ("N* and D* are the law's; the loss intervals include the extrapolation "
                     "discrepancy" if not a.no_discrepancy else
                     "the intervals assume the law holds that far"), file=sys.stderr)
    return 0


def _cmd_design(a: argparse.Namespace) -> int:
    import pandas as pd

    import bayescale as bs

    fit = bs.load_fit(a.fit)
    plan = _plan(a)
    candidates = None
    if a.candidates:
        if not Path(a.candidates).exists():
            raise FileNotFoundError(f"--candidates {a.candidates}: no such file")
        candidates = (pd.read_parquet(a.candidates)
                      if a.candidates.lower().endswith((".parquet", ".pq"))
                      else pd.read_csv(a.candidates))
    group = a.group.split(",") if a.group else None
    res = bs.next_runs(fit, a.budget, pilot=a.pilot, decision=a.decision, target=a.target_loss,
                       plan=plan, candidates=candidates, isoflop=a.isoflop, group=group,
                       spread=a.spread, n_outcomes=a.outcomes, max_draws=a.max_draws,
                       max_runs=a.max_runs, flops_per_token=a.flops_per_token, seed=a.seed)
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(res)
    if a.out:
        with atomic_path(Path(a.out)) as tmp:
            res.candidates.to_csv(tmp, index=False)
        print(f"wrote every candidate's value to {a.out}")
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        from bayescale.plots import plot_design

        _save_figure(plot_design(fit, res), Path(a.plot))
        print(f"wrote the design plot to {a.plot}")
    return 0


def _cmd_sbc(a: argparse.Namespace) -> int:
    import pandas as pd

    from bayescale.evaluation.sbc import rank_uniformity, sbc

    groups = a.groups.split(",") if a.groups else None
    design = None
    if a.design:
        from bayescale.data.runs import read_runs

        design = read_runs(a.design)
    ranks = sbc(a.spec or a.law, design, n_sims=a.sims, groups=groups, n_groups=a.n_groups,
                n_ranks=a.ranks, seed=a.seed, progress=not a.no_progress,
                sampling=_sampling_options(a))
    table = rank_uniformity(ranks)
    per_sim = ranks.groupby("sim")[["divergences", "max_rhat", "min_ess_bulk"]].first()
    threshold = 0.01 / len(table)
    attrs = ranks.attrs
    print(f"SBC of {attrs['law']}" + (f" grouped by {attrs['groups']}" if attrs["groups"] else "")
          + f": {attrs['n_sims']} simulations of {attrs['n_runs']} runs, {attrs['chains']} chains"
          f" x {attrs['draws']} draws (+{attrs['tune']} warm-up) thinned to "
          f"{attrs['n_ranks'] - 1}; {attrs['runtime_s']:.0f} s")
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.to_string(float_format=lambda x: f"{x:.3g}"))
    print(f"simulations with divergences: {int((per_sim['divergences'] > 0).sum())}/{len(per_sim)}"
          f"; with R-hat > 1.01: {int((per_sim['max_rhat'] > 1.01).sum())}; with bulk ESS < "
          f"{attrs['n_ranks'] - 1}: {int((per_sim['min_ess_bulk'] < attrs['n_ranks'] - 1).sum())}")
    if attrs.get("n_invalid"):
        print(f"WARNING: {attrs['n_invalid']} of {attrs['n_sims']} prior draws give undefined or "
              f"overflowing {ranks.attrs['law']!r} predictions at these runs and were skipped: the "
              "spec's priors put mass where the law is undefined, and the ranks check the prior "
              "truncated to the rest (which is not the prior the fit uses)")
    worst = float(table["p_ecdf"].min())
    verdict = "no evidence of miscalibration" if worst >= threshold else "MISCALIBRATED"
    print(f"smallest ECDF p-value {worst:.3g} vs Bonferroni threshold 0.01/{len(table)} = "
          f"{threshold:.2g}: {verdict}")
    if a.out:
        with atomic_path(Path(a.out)) as tmp:
            ranks.to_csv(tmp, index=False)
        print(f"wrote the ranks to {a.out}")
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        from bayescale.plots.sbc_plot import plot_sbc_ecdf

        _save_figure(plot_sbc_ecdf(ranks), Path(a.plot))
        print(f"wrote the ECDF plot to {a.plot}")
    return 0


def _cmd_compare(a: argparse.Namespace) -> int:
    import pandas as pd

    import bayescale as bs

    laws = _laws_arg(a.laws)
    if len(laws) < 2:
        raise ValueError("compare needs at least two laws, e.g. --laws chinchilla,datablations")
    if a.cutoffs is not None and not a.backtest:
        from bayescale.formatting import fmt_sci

        raise ValueError(f"--cutoffs {','.join(fmt_sci(c) for c in a.cutoffs)} applies to the "
                         "backtest; add --backtest, or drop --cutoffs")
    runs = _load_runs(a.runs)
    groups = a.groups.split(",") if a.groups else None
    fits = {}
    for law in laws:
        label = Path(law).stem if law.endswith(".toml") else law
        spec = law if law.endswith(".toml") else None
        fits[label] = bs.fit(runs, None if spec else law, spec=spec, columns=a.columns,
                             flops=a.flops, groups=groups, **_sampling_kwargs(a))
    bt = None
    if a.backtest:
        bt = bs.backtest(runs, dict(zip(fits, laws, strict=True)),  # labelled as the fits
                         cutoffs=a.cutoffs, columns=a.columns, flops=a.flops, seed=a.seed,
                         retry=not a.no_retry, sampling=_sampling_options(a),
                         **({"groups": groups} if groups else {}))
    result = bs.compare(fits, groups=a.logo.split(",") if a.logo else None, backtest=bt)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(result)
    if a.out:
        with atomic_path(Path(a.out)) as tmp:
            result.table.to_csv(tmp)
        print(f"wrote the comparison table to {a.out}")
    return 0


def _cmd_backtest(a: argparse.Namespace) -> int:
    import pandas as pd

    import bayescale as bs

    laws = _laws_arg(a.laws)
    groups = a.groups.split(",") if a.groups else None
    kw = {"groups": groups} if groups else {}
    bt = bs.backtest(_load_runs(a.runs), laws, cutoffs=a.cutoffs, by=a.by,
                     discrepancy=a.discrepancy, baseline=a.baseline, columns=a.columns,
                     flops=a.flops, seed=a.seed, retry=not a.no_retry,
                     sampling=_sampling_options(a), **kw)
    with pd.option_context("display.width", 220, "display.max_columns", 40):
        print(bs.backtest_summary(bt).to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if a.out:
        with atomic_path(Path(a.out)) as tmp:
            bt.to_csv(tmp, index=False)
        print(f"wrote the per-run backtest table to {a.out}")
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        from bayescale.plots import plot_backtest

        _save_figure(plot_backtest(bt), Path(a.plot))
        print(f"wrote the backtest plot to {a.plot}")
    return 0


def _cmd_datasets(a: argparse.Namespace) -> int:
    from bayescale import datasets

    for name in datasets.available():
        df = datasets.load(name)
        print(f"{name:14s} {len(df):5d} rows  {df.attrs.get('description', '')}")
    return 0


def _cmd_spec(a: argparse.Namespace) -> int:
    from importlib import resources

    from bayescale.modeling.spec import builtin_spec_names, default_spec

    if a.law not in builtin_spec_names():
        default_spec(a.law)  # raises a SpecError naming the built-in specs
    sys.stdout.write((resources.files("bayescale.models") / f"{a.law}.toml").read_text())
    return 0


_COMMANDS = {
    "demo": _cmd_demo,
    "fit": _cmd_fit,
    "summary": _cmd_summary,
    "predict": _cmd_predict,
    "report": _cmd_report,
    "allocate": _cmd_allocate,
    "design": _cmd_design,
    "datasets": _cmd_datasets,
    "spec": _cmd_spec,
    "compare": _cmd_compare,
    "backtest": _cmd_backtest,
    "sbc": _cmd_sbc,
}


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is *now*.

    ``main`` may run many times in one process (tests, notebooks) while ``sys.stderr`` is
    swapped and closed; a handler holding the first stream would then fail on every message.
    """

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _log_to_stderr() -> None:
    """Show bayescale's progress messages ("sampling 4 chains x 1000 draws ...") on stderr."""
    log = logging.getLogger("bayescale")
    if not any(getattr(h, "_bayescale_cli", False) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("bayescale: %(message)s"))
        handler._bayescale_cli = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)


@contextlib.contextmanager
def _one_line_warnings():
    """Print each warning once, on one line, without Python source lines.

    bayescale's own warnings in full; another library's warning by its first sentence, with the
    library's name.  PyTensor's note that its C backend found no BLAS is not shown: bayescale
    compiles its models with numba, which does not use that backend's BLAS.
    """
    from bayescale.errors import BayescaleWarning

    seen: set[tuple[str, str]] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if not issubclass(category, BayescaleWarning):
            parts = Path(filename).parts
            at = [i for i, part in enumerate(parts) if part in ("site-packages", "dist-packages")]
            library = parts[at[-1] + 1] if at and at[-1] + 1 < len(parts) else Path(filename).stem
            head = text.split(". ")[0].rstrip(".")
            text = f"{head} (from {library})"
        else:
            text = _as_flags(text)
        if (category.__name__, text) in seen:
            return None
        seen.add((category.__name__, text))
        print(f"bayescale: warning [{category.__name__}]: {text}", file=sys.stderr)
        return None

    with warnings.catch_warnings():
        warnings.simplefilter("always", BayescaleWarning)
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS",
                                category=UserWarning)
        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = previous


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> from bayescale.cli import main
    >>> main(["spec", "compute"])  # doctest: +ELLIPSIS
    # Compute-only law ...
    0
    """
    code = _run(argv)
    if argv is None:  # the command line itself (the console script, python -m bayescale)
        _exit_now(code)
    return code


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    from bayescale.errors import BayescaleError

    _log_to_stderr()
    if args.command not in ("spec", "datasets"):
        # PyMC imports arviz_base when it builds a posterior; arviz_base asks lazy_loader for
        # jax and numpyro, which, when absent, records the caller with inspect.stack(): a cost
        # that grows with the loaded modules (0.2 s here, 0.4-0.9 s after PyMC and numba).
        import arviz_base  # noqa: F401
    try:
        with _one_line_warnings():
            return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("bayescale: interrupted; no partial output was written", file=sys.stderr)
        return 130
    except (BayescaleError, ValueError, KeyError, FileNotFoundError) as exc:
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"bayescale: error: {_as_flags(msg)}", file=sys.stderr)
        return 2


def _as_flags(message: str) -> str:
    """A library message's Python advice in the command line's words: ``columns={'val':
    'loss'}`` -> ``--columns val=loss``, ``groups=[...]`` -> ``--groups``, ``group='new'`` ->
    ``--group new``, ``envelope(runs, ...)`` -> ``--envelope``, ``spec='name'`` -> ``--law name``,
    ``pooling={'beta': 'shared'}`` -> ``--pooling beta=shared``.

    Examples
    --------
    >>> _as_flags("missing column 'loss' (did you mean 'val'? pass columns={'val': 'loss'})")
    "missing column 'loss' (did you mean 'val'? pass --columns val=loss)"
    >>> _as_flags("fit the best run at each point, runs = bayescale.data.runs.envelope(runs, "
    ...           "by=['N', 'D']), or one curve per set-up, groups=['lr', 'wd']")
    'fit the best run at each point, --envelope, or one curve per set-up, --groups lr,wd'
    >>> _as_flags("pass group=<one of them> (or group='new' for an unseen group)")
    'pass --group <one of them> (or --group new for an unseen group)'
    >>> _as_flags("pool them (pooling={'log_A0': 'pooled', 'log_B0': 'pooled'})")
    'pool them (--pooling log_A0=pooled,log_B0=pooled)'
    """
    import re

    def columns(m: re.Match) -> str:
        pairs = re.findall(r"'([^']+)':\s*'([^']+)'", m.group(1))
        return "--columns " + ",".join(f"{a}={b}" for a, b in pairs)

    def groups(m: re.Match) -> str:
        return "--groups " + ",".join(re.findall(r"'([^']+)'", m.group(1)))

    def pooling(m: re.Match) -> str:
        pairs = re.findall(r"'([^']+)':\s*'([^']+)'", m.group(1))
        return "--pooling " + ",".join(f"{a}={b}" for a, b in pairs)

    message = re.sub(r"columns=\{((?:'[^']+':\s*'[^']+'(?:,\s*)?)+)\}", columns, message)
    message = re.sub(r"pooling=\{((?:'[^']+':\s*'[^']+'(?:,\s*)?)+)\}", pooling, message)
    message = re.sub(r"runs = bayescale\.data\.runs\.envelope\(runs, by=\[[^\]]*\]\)",
                     "--envelope", message)
    message = message.replace("(bayescale.data.runs.envelope)", "(--envelope)")
    message = re.sub(r"(?<![\w.])groups=\[((?:'[^']+'(?:,\s*)?)+)\]", groups, message)
    message = re.sub(r"(?<![\w.])group=(?:'([^']+)'|(<[^>]+>))", r"--group \1\2", message)
    message = re.sub(r"(?<![\w.])spec='([^']+)'", r"--law \1", message)
    return re.sub(r"\bas groups=(?=\W|$)", "as --groups", message)


def _exit_now(code: int) -> None:
    """End the command's process without tearing the interpreter down, once its work is done.

    Freeing every module and object of numba, LLVM, PyTensor and PyMC at interpreter exit took
    1-2 s after each command-line fit (2.2 s measured at load 7, after the last ``atexit``
    handler had run).  By the time a command returns its files are written and renamed; here
    the ``atexit`` handlers run (logging's flush among them) and the standard streams are
    flushed, then the process ends with ``os._exit``.  Only the command line does this:
    ``main(argv)`` called from Python returns normally.
    """
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
