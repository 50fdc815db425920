"""Compute-only law: ``L(C) = E + A * C**(-gamma)``.

Sampled parameterisation (reference scale ``C0``)::

    log L = logaddexp(log E, log_A0 - gamma * log(C / C0)),   log_A0 = log A - gamma * log C0.

Default priors, with the published values behind them, are in ``models/compute.toml``.
"""

from __future__ import annotations

from bayescale.laws.base import Law, Parameter, PowerTerm, PowerTerms


def _log_loss(xp, x, p):
    return xp.logaddexp(xp.log(p["E"]), p["log_A0"] - p["gamma"] * x["C"])


def _to_natural(xp, p, logref):
    return {"E": p["E"], "A": xp.exp(p["log_A0"] + p["gamma"] * logref["C"]), "gamma": p["gamma"]}


def _from_natural(xp, n, logref):
    return {"E": n["E"], "log_A0": xp.log(n["A"]) - n["gamma"] * logref["C"], "gamma": n["gamma"]}


COMPUTE = Law(
    name="compute",
    formula="L(C) = E + A * C^(-gamma)",
    inputs=("C",),
    params=(
        Parameter(
            "E",
            "irreducible loss (nats/token)",
            support="positive",
            role="offset",
            source="as for the Chinchilla law",
        ),
        Parameter(
            "log_A0",
            "log of the reducible term at the reference compute C0",
            role="scale",
        ),
        Parameter(
            "gamma",
            "compute exponent",
            support="positive",
            role="exponent",
            source="Chinchilla frontier 0.155 (Hoffmann) / 0.18 (Besiroglu); Kaplan 0.050",
        ),
    ),
    natural=("E", "A", "gamma"),
    log_loss_fn=_log_loss,
    to_natural_fn=_to_natural,
    from_natural_fn=_from_natural,
    citation="Kaplan et al. (2020), arXiv:2001.08361; Hoffmann et al. (2022), arXiv:2203.15556.",
    description="Loss as a power law in training compute C with an irreducible term.",
    structure=PowerTerms("E", (PowerTerm("log_A0", "gamma", "C"),)),
)
