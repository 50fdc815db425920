"""Which pooled exponents a hierarchy samples centred, decided from the runs.

Why.  A pooled parameter ``theta_g = theta_mu * exp(e_g)``, ``e_g ~ Normal(0, tau)``, can be
sampled centred (``theta_g`` itself) or non-centred (``e_g = tau z_g``).  Which one NUTS explores
well depends on how much a group's runs say about its own value compared with the spread
between groups (Papaspiliopoulos, Roberts and Sköld 2007; Betancourt and Girolami 2015): centred
when the runs pin each group's value more tightly than the groups differ, non-centred when they
do not.  The boundary matters at the *small* end of the plausible spread: as the sampler visits
``tau`` values far below the typical one, a centred parameter the data cannot pin forms a funnel
and NUTS diverges.  With few groups ``tau`` is poorly determined and that lower end is far down.

What.  :func:`exponent_information` fits the law to each group alone by robust non-linear least
squares (soft-L1 loss, so diverged runs do not drive it) and returns each group's estimate and
standard error of every parameter on the sampling scale (log for positive parameters).
:func:`centred_exponents` compares, per pooled exponent, the median standard error with the low
end of the between-group spread, ``tau_low = tau_hat * max(0.1, 1 - 2 / sqrt(2 (G - 1)))``
(``tau_hat`` from the robust spread of the group estimates minus their sampling error; the
factor is two standard errors of a scale estimated from ``G`` groups below it), and centres the
exponent when ``se < tau_low``.  The offset ``E`` is always centred in identified coordinates
(it is derived from the level and shares the data pin down).

Where it is used.  Identified hierarchies are sampled centred by default; the rule is the
automatic retry's remedy when such a fit diverges (:func:`bayescale.modeling.model.
noncentring_remedy`).  Measured (4 x 1000, seed 0): across Li et al.'s 5 learning rates it
non-centres ``alpha`` (se 0.11 against tau_low 0.08), which took the centred fit's 17
divergences to 0 (ESS of ``alpha_tau`` 222, so the retry also doubles the draws); it keeps every
exponent of Porian et al.'s 15 set-ups centred.  It is not the default because on the 8-family
synthetic hierarchies of ``tests/test_hierarchy_fit.py`` it non-centred ``alpha`` where the
centred form mixed better (R-hat 1.10 against < 1.05 at 400 draws).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["centred_exponents", "exponent_information"]


def exponent_information(runs: pd.DataFrame, spec: Any, *, reference: Any = None,
                         labels: pd.Series | None = None) -> pd.DataFrame:
    """Per-group robust point fits of the law and the standard errors of its parameters.

    Parameters
    ----------
    runs : pandas.DataFrame
        Validated runs with the law's inputs, target and the spec's group columns.
    spec : ModelSpec
        A hierarchical spec whose law declares ``PowerTerms`` structure.
    reference : mapping, optional
        Reference scales (resolved from the runs if omitted).
    labels : pandas.Series, optional
        Group label of each run (computed from the spec's group columns if omitted).

    Returns
    -------
    pandas.DataFrame
        One row per group: ``group``, ``n``, the law's parameters on the sampling scale (log
        for positive ones, named as the parameters) and ``se_<name>``, their standard errors
        from the Gauss-Newton covariance at the fit (``inf`` where the runs do not identify it).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.centring import exponent_information
    >>> rng = np.random.default_rng(0)
    >>> N = np.repeat(np.geomspace(1e7, 1e9, 6), 4); D = np.tile(np.geomspace(1e9, 1e11, 4), 6)
    >>> runs = pd.DataFrame({"N": np.tile(N, 2), "D": np.tile(D, 2), "g": ["a"] * 24 + ["b"] * 24})
    >>> runs["loss"] = (1.8 + 400 / runs.N ** 0.34 + 1800 / runs.D ** 0.28) * np.exp(
    ...     0.002 * rng.standard_normal(48))
    >>> info = exponent_information(runs, default_spec("chinchilla").replace(groups=("g",)))
    >>> list(info["group"]), bool((info["se_alpha"] < 0.5).all())
    (['a', 'b'], True)
    """
    from scipy.optimize import least_squares

    from bayescale.modeling.groups import group_labels
    from bayescale.modeling.identified import IdentifiedCoords, initial_values, law_params
    from bayescale.modeling.spec import resolve_reference

    law = spec.law_obj
    ref = resolve_reference(runs, spec) if reference is None else reference
    logref = law.log_reference(ref)
    labels = group_labels(runs, spec.groups) if labels is None else labels
    order = sorted(pd.unique(labels))
    gidx = pd.Categorical(labels, categories=order).codes
    coords = IdentifiedCoords.of(law)
    y = np.log(runs[law.target].to_numpy(dtype=float))
    x = {k: np.log(runs[k].to_numpy(dtype=float)) - logref[k] for k in law.inputs}
    init = initial_values(coords, y, x, gidx, len(order))
    names = list(law.param_names)
    positive = [law.parameter(n).support == "positive" for n in names]
    rows = []
    for g, label in enumerate(order):
        idx = gidx == g
        xbar = {k[len("xbar_"):]: init[k][g] for k in init if k.startswith("xbar_")}
        start, _ = law_params(np, coords, init["id0_l"][g],
                              {s: init[f"id0_z_{s}"][g] for s in coords.scales},
                              {e: init[f"id0_log_g_{e}"][g] for e, sl in
                               zip(coords.exponents, coords.sloped, strict=True) if sl},
                              {}, xbar)
        row: dict[str, Any] = {"group": label, "n": int(idx.sum())}
        if any(n not in start for n in names) or idx.sum() <= len(names):
            row.update({n: math.nan for n in names} | {f"se_{n}": math.inf for n in names})
            rows.append(row)
            continue
        th0 = np.array([np.log(start[n]) if p else float(start[n])
                        for n, p in zip(names, positive, strict=True)])
        xs = {k: v[idx] for k, v in x.items()}
        ys = y[idx]

        def resid(th, xs=xs, ys=ys):
            p = {n: (np.exp(t) if pos else t) for n, t, pos in zip(names, th, positive,
                                                                  strict=True)}
            return ys - law.log_loss_fn(np, xs, p)

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                sol = least_squares(resid, th0, loss="soft_l1", f_scale=0.01, max_nfev=500)
                r = sol.fun
                scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
                cov = scale ** 2 * np.linalg.pinv(sol.jac.T @ sol.jac)
                se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
                est = sol.x
                ok = np.all(np.isfinite(est)) and np.all(np.isfinite(se))
            except (ValueError, np.linalg.LinAlgError):
                ok = False
        if not ok:
            row.update({n: math.nan for n in names} | {f"se_{n}": math.inf for n in names})
        else:
            row.update(dict(zip(names, est.tolist(), strict=True)))
            row.update({f"se_{n}": float(s) for n, s in zip(names, se, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows)


def centred_exponents(info: pd.DataFrame, exponents: list[str] | tuple[str, ...]
                      ) -> dict[str, dict[str, float]]:
    """Decide, per pooled exponent, centred or not, from :func:`exponent_information`.

    Returns
    -------
    dict
        Per exponent: ``se`` (median standard error), ``tau_hat``, ``tau_low`` and ``centred``
        (1.0 or 0.0).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling.centring import centred_exponents
    >>> info = pd.DataFrame({"alpha": [-0.9, -0.5, -0.7, -0.3, -1.1],
    ...                      "se_alpha": [0.11] * 5})
    >>> centred_exponents(info, ["alpha"])["alpha"]["centred"]
    0.0
    """
    out: dict[str, dict[str, float]] = {}
    groups = len(info)
    factor = max(0.1, 1.0 - 2.0 / math.sqrt(2.0 * max(groups - 1, 1)))
    for e in exponents:
        v = info[e].to_numpy(dtype=float)
        se = info[f"se_{e}"].to_numpy(dtype=float)
        good = np.isfinite(v)
        se_med = float(np.median(se)) if se.size else math.inf
        if good.sum() < 2:
            out[e] = {"se": se_med, "tau_hat": math.nan, "tau_low": math.nan, "centred": 0.0}
            continue
        mad = 1.4826 * float(np.median(np.abs(v[good] - np.median(v[good]))))
        tau_hat = math.sqrt(max(0.0, mad ** 2 - float(np.median(se[good] ** 2))))
        tau_low = tau_hat * factor
        out[e] = {"se": se_med, "tau_hat": tau_hat, "tau_low": tau_low,
                  "centred": float(se_med < tau_low)}
    return out
