"""Kaplan law: ``L(N, D) = [(N_c / N)**(alpha_N / alpha_D) + D_c / D]**alpha_D`` (Kaplan 2020).

Sampled parameterisation (reference scales ``N0``, ``D0``; ``r = alpha_N / alpha_D``)::

    log L = alpha_D * logaddexp(u0 - r * log(N / N0), v0 - log(D / D0))

with ``u0 = r * log(N_c / N0)`` and ``v0 = log(D_c / D0)``.  The law has no irreducible term.

Default priors, with the published values behind them, are in ``models/kaplan.toml``.
"""

from __future__ import annotations

from bayescale.laws.base import Law, Parameter

_SRC = "Kaplan et al. 2020, Table 2: alpha_N 0.076, alpha_D 0.095, N_c 6.4e13, D_c 1.8e13"


def _log_loss(xp, x, p):
    r = p["alpha_N"] / p["alpha_D"]
    return p["alpha_D"] * xp.logaddexp(p["u0"] - r * x["N"], p["v0"] - x["D"])


def _to_natural(xp, p, logref):
    r = p["alpha_N"] / p["alpha_D"]
    return {
        "N_c": xp.exp(p["u0"] / r + logref["N"]),
        "D_c": xp.exp(p["v0"] + logref["D"]),
        "alpha_N": p["alpha_N"],
        "alpha_D": p["alpha_D"],
    }


def _from_natural(xp, n, logref):
    r = n["alpha_N"] / n["alpha_D"]
    return {
        "alpha_N": n["alpha_N"],
        "alpha_D": n["alpha_D"],
        "u0": r * (xp.log(n["N_c"]) - logref["N"]),
        "v0": xp.log(n["D_c"]) - logref["D"],
    }


KAPLAN = Law(
    name="kaplan",
    formula="L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D",
    inputs=("N", "D"),
    params=(
        Parameter(
            "alpha_N",
            "parameter exponent",
            support="positive",
            role="exponent",
            source=_SRC,
        ),
        Parameter(
            "alpha_D",
            "data exponent (also the outer exponent)",
            support="positive",
            role="exponent",
            source=_SRC,
        ),
        Parameter(
            "u0",
            "(alpha_N / alpha_D) * log(N_c / N0)",
            role="scale",
            source=_SRC,
        ),
        Parameter(
            "v0",
            "log(D_c / D0)",
            role="scale",
            source=_SRC,
        ),
    ),
    natural=("N_c", "D_c", "alpha_N", "alpha_D"),
    log_loss_fn=_log_loss,
    to_natural_fn=_to_natural,
    from_natural_fn=_from_natural,
    citation="Kaplan et al. (2020), Scaling Laws for Neural Language Models, arXiv:2001.08361.",
    description="Kaplan et al.'s joint law in parameters N and tokens D, with no irreducible "
    "loss term.",
)
