"""Smoothly broken power law in compute (Caballero et al. 2023), one break.

Caballero et al.'s broken neural scaling law with one break, in training compute ``C``::

    L(C) = E + A C^-c0 (1 + (C / d1)^(1 / f1))^(-c1 f1)

Below the break (``C << d1``) the reducible loss is ``A C^-c0``; above it (``C >> d1``) it is
``A d1^c1 C^-(c0 + c1)``: the exponent changes by ``c1`` (``c1 < 0`` flattens the curve, ``c1 >
0`` steepens it) and ``f1 > 0`` sets how sharp the transition is (``f1 -> 0`` is a kink).  The
loss decreases everywhere when ``c0 > 0`` and ``c0 + c1 > 0``.

Sampled parameterisation (reference scale ``C0``, ``x = log(C / C0)``)::

    log L = logaddexp(log E, log_A0 - c0 x - c1 f1 logaddexp(0, (x - log_d0) / f1))

with ``log_A0 = log A - c0 log C0`` (the pre-break power law at ``C0``) and ``log_d0 =
log(d1 / C0)`` (where the break sits, in log units from the reference).  Default priors:
``models/broken_power.toml``.
"""

from __future__ import annotations

from bayescale.laws.base import Law, Parameter, PowerTerm, PowerTerms


def _log_loss(xp, x, p):
    soft = xp.logaddexp(0.0, (x["C"] - p["log_d0"]) / p["f1"])
    return xp.logaddexp(xp.log(p["E"]), p["log_A0"] - p["c0"] * x["C"] - p["c1"] * p["f1"] * soft)


def _to_natural(xp, p, logref):
    return {
        "E": p["E"],
        "A": xp.exp(p["log_A0"] + p["c0"] * logref["C"]),
        "c0": p["c0"],
        "c1": p["c1"],
        "d1": xp.exp(p["log_d0"] + logref["C"]),
        "f1": p["f1"],
    }


def _from_natural(xp, n, logref):
    return {
        "E": n["E"],
        "log_A0": xp.log(n["A"]) - n["c0"] * logref["C"],
        "c0": n["c0"],
        "c1": n["c1"],
        "log_d0": xp.log(n["d1"]) - logref["C"],
        "f1": n["f1"],
    }


BROKEN_POWER = Law(
    name="broken_power",
    formula="L(C) = E + A C^-c0 (1 + (C / d1)^(1 / f1))^(-c1 f1)",
    inputs=("C",),
    params=(
        Parameter("E", "irreducible loss (nats/token)", support="positive", role="offset"),
        Parameter("log_A0", "log of the pre-break reducible term A C0^-c0 at the reference C0",
                  role="scale"),
        Parameter("c0", "compute exponent below the break", support="positive", role="exponent",
                  source="compute exponents 0.05-0.2 (Kaplan 2020, Hoffmann 2022)"),
        Parameter("c1", "change of the exponent across the break (c0 + c1 above it)",
                  role="shape", source="Caballero et al. 2023"),
        Parameter("log_d0", "log of the break's compute relative to C0", role="shape"),
        Parameter("f1", "sharpness of the break (small = sharp)", support="positive",
                  role="shape", source="Caballero et al. 2023"),
    ),
    natural=("E", "A", "c0", "c1", "d1", "f1"),
    log_loss_fn=_log_loss,
    to_natural_fn=_to_natural,
    from_natural_fn=_from_natural,
    citation="Caballero, Gupta, Rish, Krueger (2023), Broken Neural Scaling Laws, ICLR 2023, "
    "arXiv:2210.14891.",
    description="A power law in compute whose exponent changes smoothly from c0 to c0 + c1 around "
    "a break at compute d1 (sharpness f1).",
    # SBC, 100 simulated designs: 43% of fits diverged at 0.9, none at 0.99.
    target_accept=0.99,
    structure=PowerTerms("E", (PowerTerm("log_A0", "c0", "C", slope=False),)),
)
