"""Chinchilla law: ``L(N, D) = E + A / N**alpha + B / D**beta`` (Hoffmann et al. 2022).

Sampled parameterisation (reference scales ``N0``, ``D0``)::

    log L = logaddexp(log E, log_A0 - alpha * log(N / N0), log_B0 - beta * log(D / D0))

with ``log_A0 = log A - alpha * log N0`` and ``log_B0 = log B - beta * log D0``: the logs of the
two reducible terms at the reference scales.  Evaluating in log space with ``logaddexp`` is
stable for every N and D a user will try.

Default priors, with the published values behind them, are in ``models/chinchilla.toml``.
"""

from __future__ import annotations

from bayescale.laws.base import Law, Parameter, PowerTerm, PowerTerms

_E_SRC = "Hoffmann 2022 (1.69), Besiroglu 2024 (1.82), Muennighoff 2023 (1.87)"
_EXP_SRC = "Hoffmann 2022 (0.34, 0.28), Besiroglu 2024 (0.35, 0.37), Muennighoff 2023 (0.35)"


def _log_loss(xp, x, p):
    return xp.logaddexp(
        xp.log(p["E"]),
        xp.logaddexp(p["log_A0"] - p["alpha"] * x["N"], p["log_B0"] - p["beta"] * x["D"]),
    )


def _to_natural(xp, p, logref):
    return {
        "E": p["E"],
        "A": xp.exp(p["log_A0"] + p["alpha"] * logref["N"]),
        "B": xp.exp(p["log_B0"] + p["beta"] * logref["D"]),
        "alpha": p["alpha"],
        "beta": p["beta"],
    }


def _from_natural(xp, n, logref):
    return {
        "E": n["E"],
        "log_A0": xp.log(n["A"]) - n["alpha"] * logref["N"],
        "log_B0": xp.log(n["B"]) - n["beta"] * logref["D"],
        "alpha": n["alpha"],
        "beta": n["beta"],
    }


CHINCHILLA = Law(
    name="chinchilla",
    formula="L(N, D) = E + A / N^alpha + B / D^beta",
    inputs=("N", "D"),
    params=(
        Parameter(
            "E",
            "irreducible loss (nats/token)",
            support="positive",
            role="offset",
            source=_E_SRC,
        ),
        Parameter(
            "log_A0",
            "log of the parameter-limited term A / N0^alpha at the reference N0",
            role="scale",
            source="Hoffmann 2022 and Besiroglu 2024 give 0.35-0.36 at N0 = 1e9",
        ),
        Parameter(
            "alpha",
            "parameter exponent",
            support="positive",
            role="exponent",
            source=_EXP_SRC,
        ),
        Parameter(
            "log_B0",
            "log of the data-limited term B / D0^beta at the reference D0",
            role="scale",
            source="Hoffmann 2022 and Besiroglu 2024 give 0.20-0.34 at D0 = 1e11",
        ),
        Parameter(
            "beta",
            "data exponent",
            support="positive",
            role="exponent",
            source=_EXP_SRC,
        ),
    ),
    natural=("E", "A", "B", "alpha", "beta"),
    log_loss_fn=_log_loss,
    to_natural_fn=_to_natural,
    from_natural_fn=_from_natural,
    citation="Hoffmann et al. (2022), Training Compute-Optimal Large Language Models, "
    "arXiv:2203.15556; Besiroglu et al. (2024), Chinchilla Scaling: A replication attempt, "
    "arXiv:2404.10102.",
    description="Loss as an irreducible term plus separate power laws in parameters N and "
    "training tokens D (Hoffmann et al.'s Approach 3).",
    structure=PowerTerms("E", (PowerTerm("log_A0", "alpha", "N"),
                               PowerTerm("log_B0", "beta", "D"))),
)
