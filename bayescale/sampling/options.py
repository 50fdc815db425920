"""One object for the sampler's settings, accepted wherever bayescale samples.

:func:`bayescale.fit`, :func:`bayescale.backtest`, :func:`bayescale.learn_discrepancy`,
:func:`bayescale.evaluation.sbc.sbc` and :func:`bayescale.sampling.sweep.sweep` (for each task,
through :func:`~bayescale.sampling.sweep.fit_task`) each take ``sampling=``: a
:class:`SamplingOptions` (or a dict of its fields).  A field left at None keeps that
function's own default (a backtest's inner fits default to 400 draws where a single fit takes
1,000), so one object can be handed to all of them; a field that is set takes precedence over
the function's separate keyword of the same name (``draws=``, ``tune=``...), which remain for
one-off calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["SamplingOptions"]


@dataclass(frozen=True)
class SamplingOptions:
    """Settings of the NUTS sampler (None: the receiving function's default).

    Attributes
    ----------
    draws, tune, chains : int, optional
        Posterior draws and warm-up iterations per chain, and the number of chains.
    cores : int, optional
        Parallel chains for ``sampler="pymc"``.
    sampler : {"nutpie", "pymc"}, optional
        NUTS implementation.
    target_accept : float, optional
        NUTS target acceptance (default: the law's own).
    progressbar : bool, optional
        Show sampling progress (for :func:`~bayescale.evaluation.sbc.sbc`, whose fits never
        show a bar, the default of its ``progress``: one line per simulation).

    Examples
    --------
    >>> from bayescale.sampling import SamplingOptions
    >>> quick = SamplingOptions(draws=200, tune=200, progressbar=False)
    >>> quick.over(draws=1000, tune=1000, chains=4)
    {'draws': 200, 'tune': 200, 'chains': 4, 'progressbar': False}
    >>> SamplingOptions.of({"chains": 2}).set()
    {'chains': 2}
    """

    draws: int | None = None
    tune: int | None = None
    chains: int | None = None
    cores: int | None = None
    sampler: str | None = None
    target_accept: float | None = None
    progressbar: bool | None = None

    @classmethod
    def of(cls, value: SamplingOptions | Mapping[str, Any]) -> SamplingOptions:
        """``value`` itself, or the options named by a dict (unknown names raise)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise TypeError(f"sampling options have no field(s) {unknown}; they are "
                                f"{sorted(known)}")
            return cls(**value)
        raise TypeError(f"sampling= takes a SamplingOptions or a dict, not "
                        f"{type(value).__name__}")

    def set(self) -> dict[str, Any]:
        """The fields that are set (not None)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def over(self, **defaults: Any) -> dict[str, Any]:
        """``defaults`` (a function's own settings) with the fields that are set on top."""
        return {**defaults, **self.set()}
