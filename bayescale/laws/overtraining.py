"""Over-training law (Gadre et al. 2024): loss in compute ``C`` and tokens per parameter ``M``.

Gadre et al. (2024, eq. 4) write the Chinchilla law with equal exponents in terms of compute
``C = 6 N D`` and the token multiplier ``M = D / N``::

    L(C, M) = E + (a M^eta + b M^-eta) C^-eta

so that, at any fixed amount of over-training ``M``, the reducible loss is a power law in compute
with the *same* exponent ``eta``.  Substituting ``C`` and ``M`` gives
``a M^eta C^-eta = a 6^-eta N^(-2 eta)`` and ``b M^-eta C^-eta = b 6^-eta D^(-2 eta)``: the
Chinchilla law with ``alpha = beta = 2 eta``, ``A = a 6^-eta`` and ``B = b 6^-eta``.  (The
authors' code, ``powlaw_ours`` in mlfoundations/scaling, fits the same surface as
``E + alpha N^k + beta 6^(k/2) (M N)^k`` with ``k = -2 eta``.)  The law reads the runs table's
``N`` and ``D``; ``M = D / N`` and ``C = 6 N D`` are implied.

Sampled parameterisation (reference scales ``N0``, ``D0``)::

    log L = logaddexp(log E, log_a0 - 2 eta log(N / N0), log_b0 - 2 eta log(D / D0))

with ``log_a0 = log a - eta log 6 - 2 eta log N0`` and ``log_b0 = log b - eta log 6 -
2 eta log D0``, the two reducible terms at the reference scales.  Default priors:
``models/overtraining.toml``.
"""

from __future__ import annotations

import math

from bayescale.laws.base import Law, Parameter, PowerTerm, PowerTerms

_LOG6 = math.log(6.0)
_SRC = ("Gadre et al. 2024 fit eta on C4, RedPajama and RefinedWeb runs <= 411M parameters; "
        "their 2 eta is the Chinchilla exponent (0.28-0.37 in Hoffmann 2022, Besiroglu 2024, "
        "Muennighoff 2023)")


def _log_loss(xp, x, p):
    return xp.logaddexp(
        xp.log(p["E"]),
        xp.logaddexp(p["log_a0"] - 2.0 * p["eta"] * x["N"], p["log_b0"] - 2.0 * p["eta"] * x["D"]),
    )


def _to_natural(xp, p, logref):
    eta = p["eta"]
    return {
        "E": p["E"],
        "a": xp.exp(p["log_a0"] + eta * _LOG6 + 2.0 * eta * logref["N"]),
        "b": xp.exp(p["log_b0"] + eta * _LOG6 + 2.0 * eta * logref["D"]),
        "eta": eta,
    }


def _from_natural(xp, n, logref):
    eta = n["eta"]
    return {
        "E": n["E"],
        "log_a0": xp.log(n["a"]) - eta * _LOG6 - 2.0 * eta * logref["N"],
        "log_b0": xp.log(n["b"]) - eta * _LOG6 - 2.0 * eta * logref["D"],
        "eta": eta,
    }


OVERTRAINING = Law(
    name="overtraining",
    formula="L(C, M) = E + (a M^eta + b M^-eta) C^-eta,  C = 6 N D, M = D / N",
    inputs=("N", "D"),
    params=(
        Parameter("E", "irreducible loss (nats/token)", support="positive", role="offset",
                  source="as for the Chinchilla law"),
        Parameter("log_a0", "log of the parameter-limited term a 6^-eta N0^(-2 eta) at N0",
                  role="scale"),
        Parameter("log_b0", "log of the data-limited term b 6^-eta D0^(-2 eta) at D0",
                  role="scale"),
        Parameter("eta", "compute exponent at fixed tokens per parameter (half the Chinchilla "
                  "exponents, which are tied)", support="positive", role="exponent",
                  source=_SRC),
    ),
    natural=("E", "a", "b", "eta"),
    log_loss_fn=_log_loss,
    to_natural_fn=_to_natural,
    from_natural_fn=_from_natural,
    citation="Gadre et al. (2024), Language models scale reliably with over-training and on "
    "downstream tasks, arXiv:2403.08540.",
    description="Loss in compute C and token multiplier M = D / N: a power law in C with one "
    "exponent eta at every amount of over-training (the Chinchilla law with alpha = beta).",
    structure=PowerTerms("E", (PowerTerm("log_a0", "eta", "N", 2.0, slope=False),
                                PowerTerm("log_b0", "eta", "D", 2.0, slope=False))),
)
