"""The law interface: one expression, evaluated by numpy on draws and by PyTensor in a model.

A scaling law in bayescale is a :class:`Law`: a pure function that maps *centred log inputs*
(``x["N"] = log(N / N0)``) and *sampled parameters* to the log of the predicted loss, written
once against an array namespace ``xp`` that is either :mod:`numpy` or :mod:`pytensor.tensor`.
Both provide, with the same meaning, the functions a law may use: ``exp``, ``log``, ``logaddexp``,
``expm1``, ``log1p``, ``minimum`` and ``maximum`` (plus arithmetic).

Most laws predict the final ``loss`` from scale (``N``, ``D``, ``C``, unique tokens ``U``).  Link
laws predict another quantity from the loss: a law's :attr:`Law.target` names the runs-table
column it predicts (``"loss"`` by default; ``"error"`` for downstream error, ``"target_loss"``
for loss-to-loss prediction), and its inputs may then include ``"loss"``.

Why centred parameters?  A law such as ``E + A / N**alpha`` sampled in ``(log A, alpha)`` has a
posterior ridge: with ``N ~ 1e9`` every change of ``alpha`` must be compensated by a change of
``log A`` 20 times larger, and NUTS needs trees of hundreds of leapfrog steps.  The same law
written as ``E + exp(log_A0 - alpha * log(N / N0))`` with ``N0`` near the data has nearly
independent parameters.  ``log_A0`` is the log of the N-term at the reference scale, which is
also the more interpretable quantity to put a prior on.  Each law also knows how to map its
sampled parameters to the *natural* (published) parameters such as ``A`` and back, so published
values can be checked and posterior draws can be compared with papers.

Laws are plain frozen dataclasses kept in a plain dict registry (:data:`bayescale.laws.LAWS`).
A law carries no priors: default priors are data, in the declarative specs of the top-level
``models/`` folder (``models/chinchilla.toml`` ...), which users copy and edit.  Importing a law
does not import PyMC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np

__all__ = ["Law", "Parameter", "PowerTerm", "PowerTerms"]

Support = Literal["real", "positive"]
Role = Literal["exponent", "offset", "scale", "shape"]


@dataclass(frozen=True)
class Parameter:
    """A sampled parameter of a law.

    Parameters
    ----------
    name : str
        Name used in the model and in the posterior (for example ``"alpha"``).
    description : str
        One line saying what the parameter means, including its reference scale if any.
    support : {"real", "positive"}
        Where the parameter lives; used to validate user priors.
    role : {"exponent", "offset", "scale", "shape"}
        What kind of quantity it is.  Hierarchical models pool exponents and irreducible
        offsets by default.
    source : str
        Published values that inform its default prior (papers and numbers).

    Examples
    --------
    >>> from bayescale.laws import Parameter
    >>> p = Parameter("alpha", "N exponent", support="positive", role="exponent")
    >>> p.name
    'alpha'
    """

    name: str
    description: str
    support: Support = "real"
    role: Role = "scale"
    source: str = ""


@dataclass(frozen=True)
class PowerTerm:
    """One decaying term ``exp(scale - multiplier * exponent * x[input])`` of a law's loss.

    Parameters
    ----------
    scale : str
        The sampled parameter holding the log of the term at the reference scale (``log_A0``).
    exponent : str
        The sampled parameter of its decay (``alpha``).
    input : str
        The centred input it decays along (``N``).
    multiplier : float
        The term decays as ``exp(-multiplier * exponent * x)`` (2 for Gadre et al.'s ``2 eta``).
    slope : bool
        Whether the identified coordinates may sample this term's log-slope in place of its
        exponent: False where the exponent is shared by several terms or the term bends.

    Examples
    --------
    >>> from bayescale.laws import PowerTerm
    >>> PowerTerm("log_A0", "alpha", "N").multiplier
    1.0
    """

    scale: str
    exponent: str
    input: str
    multiplier: float = 1.0
    slope: bool = True


@dataclass(frozen=True)
class PowerTerms:
    """A law whose loss is an offset plus decaying power terms, ``E + sum_k term_k``.

    Declaring it lets the model sample such a law in coordinates the data identify (the loss,
    its log-slopes and the shares of the offset and each term at the centre of the data;
    :mod:`bayescale.modeling.identified`) instead of the ridge-prone ``(E, log A0, alpha)``.

    Examples
    --------
    >>> from bayescale.laws import get_law
    >>> [t.exponent for t in get_law("chinchilla").structure.terms]
    ['alpha', 'beta']
    """

    offset: str
    terms: tuple[PowerTerm, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The sampled parameters these coordinates replace (offset, scales, sloped exponents)."""
        out = [self.offset]
        for t in self.terms:
            out.append(t.scale)
            if t.slope:
                out.append(t.exponent)
        return tuple(out)


LogLossFn = Callable[[ModuleType, Mapping[str, Any], Mapping[str, Any]], Any]
ConvertFn = Callable[[ModuleType, Mapping[str, Any], Mapping[str, float]], dict[str, Any]]


@dataclass(frozen=True)
class Law:
    """A scaling law: a pure log-loss expression plus its parameters and their meaning.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"chinchilla"``.
    formula : str
        Human-readable formula in natural parameters.
    inputs : tuple of str
        Runs-table columns the law reads, e.g. ``("N", "D")`` or ``("C",)``.
    params : tuple of Parameter
        The sampled (reference-centred) parameters, in a fixed order.
    natural : tuple of str
        Names of the natural (published) parameters returned by :meth:`to_natural`.
    log_loss_fn : callable
        ``log_loss_fn(xp, x, p)`` returning log predicted loss, where ``x[k]`` is
        ``log(input_k / reference_k)`` and ``p`` maps sampled parameter names to values.
        Must use only ``xp.exp``, ``xp.log``, ``xp.logaddexp`` and arithmetic, so that it runs
        on numpy arrays and PyTensor tensors alike, broadcasting elementwise.
    to_natural_fn, from_natural_fn : callable
        ``fn(xp, params, log_reference)`` converting between sampled and natural parameters.
    citation : str
        The paper(s) that introduced the functional form.
    description : str
        One paragraph for reports and docs.
    target : str
        The runs-table column the law predicts (default ``"loss"``).
    reference_of : mapping
        Inputs centred on *another* input's reference scale, e.g. ``{"U": "D"}``: unique tokens
        share the reference of training tokens so that the law can form the ratio ``D / U`` from
        centred logs.  Such inputs have no reference scale of their own in a spec.
    target_accept : float
        NUTS target acceptance used when a fit does not set one (default 0.9).  Laws whose
        posteriors diverge at 0.9 under simulation-based calibration (and whose ranks then fail
        the uniformity test) default to 0.99.
    structure : PowerTerms, optional
        For laws of the form ``E + sum of decaying terms``: which parameters are the offset and
        the terms, so that fits can sample in identified coordinates.
    identified_by_default : bool
        Whether ``coordinates = "auto"`` samples the law in identified coordinates (default
        True).  False for laws whose terms decay along inputs other than the runs' own (the
        data-constrained law's effective N' and D'), where the centre-of-data slopes are not
        what the runs pin down and the natural coordinates sampled better (measured).
    bounded_by : mapping
        Positive parameters the law needs below the smallest observed value of an input (in
        units of its reference scale), e.g. ``{"e_src": "loss"}``: fits sample them as a share
        of that smallest value.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.laws import get_law
    >>> law = get_law("chinchilla")
    >>> hoffmann = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    >>> float(np.round(law.loss(hoffmann, N=70e9, D=1.4e12), 3))
    1.937
    """

    name: str
    formula: str
    inputs: tuple[str, ...]
    params: tuple[Parameter, ...]
    natural: tuple[str, ...]
    log_loss_fn: LogLossFn = field(repr=False)
    to_natural_fn: ConvertFn = field(repr=False)
    from_natural_fn: ConvertFn = field(repr=False)
    citation: str = ""
    description: str = ""
    target: str = "loss"
    reference_of: Mapping[str, str] = field(default_factory=dict)
    target_accept: float = 0.9
    structure: PowerTerms | None = None
    bounded_by: Mapping[str, str] = field(default_factory=dict)
    identified_by_default: bool = True

    def __post_init__(self) -> None:
        for k, v in self.reference_of.items():
            if k not in self.inputs or v not in self.inputs or v in self.reference_of:
                raise ValueError(
                    f"law {self.name!r}: reference_of maps {k!r} -> {v!r}, but both must be inputs "
                    f"of the law ({self.inputs}) and {v!r} must have its own reference scale"
                )
        if self.target in self.inputs:
            raise ValueError(f"law {self.name!r} predicts {self.target!r}, so it cannot read it")

    # ------------------------------------------------------------------ introspection
    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the sampled parameters, in order."""
        return tuple(p.name for p in self.params)

    def parameter(self, name: str) -> Parameter:
        """Return the :class:`Parameter` called ``name``.

        Examples
        --------
        >>> from bayescale.laws import get_law
        >>> get_law("chinchilla").parameter("alpha").role
        'exponent'
        """
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(
            f"law {self.name!r} has no parameter {name!r}; its parameters are "
            f"{', '.join(self.param_names)}"
        )

    @property
    def reference_inputs(self) -> tuple[str, ...]:
        """Inputs with a reference scale of their own (all but those in ``reference_of``).

        Examples
        --------
        >>> from bayescale.laws import get_law
        >>> get_law("datablations").reference_inputs
        ('N', 'D')
        """
        return tuple(k for k in self.inputs if k not in self.reference_of)

    # ------------------------------------------------------------------ evaluation
    def log_reference(self, reference: Mapping[str, float]) -> dict[str, float]:
        """Natural logs of the reference scales for this law's inputs.

        Inputs listed in ``reference_of`` get the reference of the input they are measured
        against (``U`` gets ``D``'s).
        """
        missing = [k for k in self.reference_inputs if k not in reference]
        if missing:
            raise KeyError(f"law {self.name!r} needs reference scales for {missing}")
        return {k: float(np.log(float(reference[self.reference_of.get(k, k)])))
                for k in self.inputs}

    def centred_inputs(
        self, inputs: Mapping[str, Any], reference: Mapping[str, float], xp: ModuleType = np
    ) -> dict[str, Any]:
        """``log(input / reference)`` for each input of the law."""
        logref = self.log_reference(reference)
        out = {}
        for k in self.inputs:
            if k not in inputs:
                raise KeyError(f"law {self.name!r} needs input {k!r} (it reads {self.inputs})")
            out[k] = xp.log(inputs[k]) - logref[k]
        return out

    def log_loss(
        self,
        params: Mapping[str, Any],
        inputs: Mapping[str, Any],
        reference: Mapping[str, float],
        xp: ModuleType = np,
    ) -> Any:
        """Log predicted loss from *sampled* parameters.

        Parameters
        ----------
        params : mapping
            Sampled parameter values (scalars, arrays of draws, or tensors).
        inputs : mapping
            Raw inputs (``N``, ``D`` or ``C``), not logged.
        reference : mapping
            Reference scales used when the parameters were defined.
        xp : module
            ``numpy`` (default) or ``pytensor.tensor``.

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.laws import get_law
        >>> law = get_law("compute")
        >>> p = law.from_natural({"E": 1.7, "A": 100.0, "gamma": 0.1}, {"C": 1e20})
        >>> float(np.exp(law.log_loss(p, {"C": 1e21}, {"C": 1e20})))  # doctest: +ELLIPSIS
        2.4943...
        """
        x = self.centred_inputs(inputs, reference, xp)
        return self.log_loss_fn(xp, x, params)

    def loss(self, natural: Mapping[str, Any], **inputs: Any) -> np.ndarray:
        """Predicted loss from *natural* (published) parameters, evaluated with numpy.

        Broadcasting follows numpy: pass arrays of draws as parameters and/or arrays of inputs.

        Examples
        --------
        >>> from bayescale.laws import get_law
        >>> law = get_law("kaplan")
        >>> p = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.095)
        >>> round(float(law.loss(p, N=1.5e9, D=2.3e10)), 3)
        2.279
        """
        reference = {k: 1.0 for k in self.inputs}
        sampled = self.from_natural(natural, reference)
        arrays = {k: np.asarray(v, dtype=float) for k, v in inputs.items()}
        return np.exp(self.log_loss(sampled, arrays, reference))

    def to_natural(
        self, params: Mapping[str, Any], reference: Mapping[str, float], xp: ModuleType = np
    ) -> dict[str, Any]:
        """Map sampled parameters to natural (published) parameters.

        Examples
        --------
        >>> from bayescale.laws import get_law
        >>> law = get_law("chinchilla")
        >>> ref = {"N": 1e9, "D": 1e11}
        >>> p = law.from_natural(dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28), ref)
        >>> round(float(law.to_natural(p, ref)["A"]), 1)
        406.4
        """
        return self.to_natural_fn(xp, params, self.log_reference(reference))

    def from_natural(
        self, natural: Mapping[str, Any], reference: Mapping[str, float], xp: ModuleType = np
    ) -> dict[str, Any]:
        """Map natural (published) parameters to the sampled parameterisation.

        Examples
        --------
        >>> from bayescale.laws import get_law
        >>> law = get_law("compute")
        >>> sorted(law.from_natural({"E": 1.7, "A": 100.0, "gamma": 0.1}, {"C": 1e20}))
        ['E', 'gamma', 'log_A0']
        """
        missing = [k for k in self.natural if k not in natural]
        if missing:
            raise KeyError(
                f"law {self.name!r} needs natural parameters {list(self.natural)}; "
                f"missing {missing}"
            )
        return self.from_natural_fn(xp, natural, self.log_reference(reference))
