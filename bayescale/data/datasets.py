"""Bundled real scaling-law datasets, loaded as tidy runs tables.

Every dataset ships inside the package (``bayescale/data/bundled/<folder>/``) as the authors' (or a
documented derived) CSV, byte-for-byte as published, next to its ``PROVENANCE.md`` (source
repository, commit, licence, column dictionary) and a ``CITATION.txt``. :func:`load` turns the
raw file into the package's canonical *runs table*; nothing is downloaded.

Runs-table schema
-----------------
One row per observation (a training run, or a run evaluated on one validation set / at one budget).

=================  ========  ===================================================================
column             dtype     meaning
=================  ========  ===================================================================
``N``              float     model parameters (under the source's counting convention)
``D``              float     training tokens
``C``              float     training FLOPs; ``6 * N * D`` unless the dataset says otherwise
``loss``           float     loss in nats/token (absent only for ``obsscaling``, which has none)
``family``         str       model family (optional)
``dataset``        str       training data set (optional)
``setup``          str       training set-up / configuration (optional)
``seed``           Int64     training seed, ``<NA>`` when unknown (optional)
``U``              float     unique tokens in a data-constrained run (optional)
``epochs``         float     passes over the unique data, ``D / U`` (optional)
=================  ========  ===================================================================

Dataset-specific extra columns are kept. Row order follows the source file (deterministic) and the
index is a fresh ``RangeIndex``. Every frame carries metadata in ``DataFrame.attrs``:

``name``
    the dataset name passed to :func:`load`;
``description``
    one-line description;
``citation``
    plain-text citation(s) (the bundled ``CITATION.txt``);
``provenance``
    full text of the bundled ``PROVENANCE.md``;
``source``
    ``"<repository URL> @ <commit>"`` of the data's origin;
``loss_units``
    ``"nats/token"``;
``notes``
    what the loader dropped, fixed or derived;
``options``
    the loader options that were applied.

Available datasets
------------------
``chinchilla``
    Hoffmann et al. (2022) Fig. 4 runs digitised by Besiroglu et al. (2024); 245 runs.
``datablations``
    Muennighoff et al. (2023) data-constrained (repeated-data) runs on C4; 307 finished runs.
``porian``, ``porian_optima``
    Porian et al. (2024) isoFLOP points and the authors' per-budget optima, 15 configurations
    (10 set-ups on RefinedWeb, 5 on OpenWebText2).
``gadre_small``
    Gadre et al. (2024) over-training grid up to 411M parameters, 3 training sets, 8 validation
    sets.
``obsscaling``
    Ruan et al. (2024) benchmark accuracies of 148 public base models (no loss).

Examples
--------
>>> from bayescale import datasets
>>> datasets.available()
['chinchilla', 'datablations', 'gadre_small', 'obsscaling', 'porian', 'porian_optima']
>>> df = datasets.load("chinchilla")
>>> df[["N", "D", "C", "loss"]].shape
(245, 4)
>>> df.attrs["loss_units"]
'nats/token'
"""

import difflib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import numpy as np
import pandas as pd

__all__ = ["available", "citation", "load", "provenance"]

_LOSS_UNITS = "nats/token"


# ---------------------------------------------------------------------------------------------
# Resource access
# ---------------------------------------------------------------------------------------------


def _folder(folder: str) -> Traversable:
    return resources.files("bayescale") / "data" / "bundled" / folder


def _read_text(folder: str, filename: str) -> str:
    return (_folder(folder) / filename).read_text(encoding="utf-8")


def _read_csv(folder: str, filename: str, **kwargs) -> pd.DataFrame:
    with (_folder(folder) / filename).open("rb") as fh:
        return pd.read_csv(fh, **kwargs)


def _source(provenance_text: str) -> str:
    repo = re.search(r"Repo:\s*(\S+)", provenance_text)
    commit = re.search(r"Commit:\s*([0-9a-fA-F]{40})", provenance_text)
    parts = [repo.group(1) if repo else "unknown repository"]
    if commit:
        parts.append(commit.group(1))
    return " @ ".join(parts)


# ---------------------------------------------------------------------------------------------
# Loaders: each returns (frame, notes); keyword-only parameters are the dataset's options.
# ---------------------------------------------------------------------------------------------


def _load_chinchilla(*, drop_outliers: bool = False) -> tuple[pd.DataFrame, str]:
    raw = _read_csv("chinchilla", "svg_extracted_data.csv")
    N = raw["Model Size"].astype(float)
    C = raw["Training FLOP"].astype(float)
    df = pd.DataFrame(
        {
            "N": N,
            "D": C / (6.0 * N),
            "C": C,
            "loss": raw["loss"].astype(float),
            "dataset": "massivetext",
        }
    )
    outliers = df["loss"].nlargest(5, keep="first").index
    df["besiroglu_outlier"] = df.index.isin(outliers)
    notes = [
        "N = 'Model Size', C = 'Training FLOP', D = C / (6 N) (not in the source; Epoch's "
        "convention).",
        "Dropped the SVG extraction artefact columns x, y, color, hex_color.",
        "besiroglu_outlier flags the 5 highest-loss points (under-trained; Besiroglu et al. 2024 "
        "fit the remaining 240).",
        "dataset = 'massivetext' (Hoffmann et al.'s training set); loss is the final training "
        "loss, decoded from a colour bar (resolution ~0.01-0.05 nats).",
    ]
    if drop_outliers:
        df = df.loc[~df["besiroglu_outlier"]]
        notes.append("drop_outliers=True: the 5 flagged rows were removed (240 rows remain).")
    return df, " ".join(notes)


def _load_datablations(*, main_only: bool = False) -> tuple[pd.DataFrame, str]:
    raw = _read_csv("datablations", "datablations_final_val_loss.csv")
    unfinished = raw["val_loss"].isna()
    dropped = raw.loc[unfinished, "run_name"].tolist()
    raw = raw.loc[~unfinished]
    df = pd.DataFrame(
        {
            "N": raw["N"].astype(float),
            "D": raw["D"].astype(float),
            "C": raw["C_6ND"].astype(float),
            "loss": raw["val_loss"].astype(float),
            "U": raw["U"].astype(float),
            "epochs": raw["epochs"].astype(float),
            "dataset": "c4",
            "seed": raw["seed"].astype("Int64"),
            "run_name": raw["run_name"],
            "suffix": raw["suffix"],
            "params_code": raw["params_code"],
            "tokens_code": raw["tokens_code"],
            "unique_tokens_code": raw["unique_tokens_code"],
        }
    )
    for flag in ("is_seed_replicate", "is_dedup", "is_opt_shape", "used_in_authors_main_list"):
        df[flag] = raw[flag].astype(bool)
    notes = [
        f"Dropped {len(dropped)} unfinished runs with empty val_loss (the authors stored 0): "
        f"{', '.join(dropped)}." if dropped else "No unfinished runs.",
        "loss = val_loss (final validation loss, GPT-2 tokenizer), C = C_6ND = 6 N D, "
        "epochs = D / U.",
        "dataset = 'c4' (inferred in the PROVENANCE: no OSCAR-suffixed run names).",
        "seed is <NA> except for the seed replicates; is_dedup / is_opt_shape runs should be "
        "excluded when fitting the repetition law.",
    ]
    if main_only:
        df = df.loc[df["used_in_authors_main_list"]]
        notes.append(
            f"main_only=True: kept the {len(df)} rows of the authors' own run list "
            "(no seed/opt/dedup suffix)."
        )
    return df, " ".join(notes)


_PORIAN_CONFIG = ["source_file", "hparams", "warmup", "decay", "param_count", "val"]
_PORIAN_SETUP_COLUMNS = ["hparams", "warmup", "decay", "param_count"]
# Labels follow CONFIG_DICT_LABEL in the authors' configs.py (Fig. 1 steps); the authors give the
# tuned/long/const/kaplan set-up an empty label and reuse the Fig. 1 labels for the attention
# variants.
_PORIAN_SETUP_LABELS = {
    "base/long/kaplan/kaplan": "Reproducing Kaplan et al.",
    "base/long/kaplan/standard": "Counting last layer FLOPs",
    "base/short/kaplan/standard": "Correcting warmup",
    "base/short/chinchilla/standard": "Cosine decay",
    "tuned/short/const/standard": "Optimizer tuning (no decay)",
    "tuned/long/const/kaplan": "Kaplan et al. counting and warmup, tuned optimizer (no decay)",
    "base/long/kaplan/attention": "Reproducing Kaplan et al. (attention FLOPs counted)",
    "base/short/kaplan/attention": "Correcting warmup (attention FLOPs counted)",
    "base/short/chinchilla/attention": "Cosine decay (attention FLOPs counted)",
    "tuned/short/const/attention": "Optimizer tuning (no decay) (attention FLOPs counted)",
}
_PORIAN_VALS = ("val", "train")


def _porian_setup(raw: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    values = raw[_PORIAN_SETUP_COLUMNS].astype(str)  # joined column by column: fast
    setup = values.iloc[:, 0].str.cat([values[c].to_numpy() for c in values.columns[1:]],
                                      sep="/")
    label = setup.map(_PORIAN_SETUP_LABELS).fillna(setup)
    return setup, label


def _porian_filter_val(df: pd.DataFrame, val: str | None) -> tuple[pd.DataFrame, str]:
    if val is None:
        return df, "val=None: both validation-loss and smoothed-training-loss rows kept."
    if val not in _PORIAN_VALS:
        raise ValueError(f"val must be one of {list(_PORIAN_VALS)} or None, got {val!r}")
    kept = df.loc[df["val"] == val]
    n_cfg = kept[["dataset", "setup"]].drop_duplicates().shape[0]
    return kept, (
        f"val={val!r}: kept the {len(kept)} rows whose loss is the "
        f"{'held-out validation' if val == 'val' else 'smoothed training'} loss "
        f"({n_cfg} of the 15 configurations; use val=None for all)."
    )


_PORIAN_SETUP_NOTE = (
    "setup = '{hparams}/{warmup}/{decay}/{param_count}'. In the data these four columns plus "
    "dataset identify the authors' 15 configurations: 10 set-ups on RefinedWeb (rw) and 5 on "
    "OpenWebText2 (owt2, the Fig. 1 set-ups base/long/kaplan/kaplan, base/long/kaplan/standard, "
    "base/short/kaplan/standard, base/short/chinchilla/standard, tuned/short/const/standard). "
    "The other configuration columns are redundant: val is determined by param_count "
    "(standard -> 'val'; kaplan and attention -> 'train'), and source_file by dataset, param_count "
    "and hparams. setup_label gives the authors' Fig. 1 step names."
)


def _load_porian(*, val: str | None = "val") -> tuple[pd.DataFrame, str]:
    raw = _read_csv("porian", "porian_isoflop_points.csv")
    setup, label = _porian_setup(raw)
    df = pd.DataFrame(
        {
            "N": raw["N"].astype(float),
            "D": raw["D"].astype(float),
            "C": raw["flops_budget"].astype(float),
            "loss": raw["loss"].astype(float),
            "dataset": raw["dataset"],
            "setup": setup,
            "setup_label": label,
        }
    )
    for col in _PORIAN_CONFIG:
        df[col] = raw[col]
    df, val_note = _porian_filter_val(df, val)
    notes = [
        "C = flops_budget (the isoFLOP budget); D = C / (6 N) with N under the param_count "
        "convention (kaplan = non-embedding, standard = incl. embeddings, attention = effective "
        "params incl. attention FLOPs), so 'C = 6ND' holds by construction in every convention.",
        _PORIAN_SETUP_NOTE,
        val_note,
        "One run per (N, configuration); points at different budgets with the same N share a run "
        "(checkpoints) except under decay='chinchilla'. Edge points are heavily under-trained "
        "(loss up to ~10).",
    ]
    return df, " ".join(notes)


def _load_porian_optima(*, val: str | None = "val") -> tuple[pd.DataFrame, str]:
    raw = _read_csv("porian", "porian_isoflop_optima.csv")
    missing = raw["N_opt"].isna()
    n_missing = int(missing.sum())
    missing_desc = "; ".join(
        f"{r.dataset} {r.hparams}/{r.warmup}/{r.decay}/{r.param_count} at C={r.flops_budget:.3g}"
        for r in raw.loc[missing].itertuples()
    )
    raw = raw.loc[~missing]
    setup, label = _porian_setup(raw)
    df = pd.DataFrame(
        {
            "N": raw["N_opt"].astype(float),
            "D": raw["D_opt"].astype(float),
            "C": raw["flops_budget"].astype(float),
            "loss": raw["loss_opt"].astype(float),
            "tokens_per_param": raw["tokens_per_param_opt"].astype(float),
            "n_star_std": raw["n_star_std"].astype(float),
            "t_star_std": raw["t_star_std"].astype(float),
            "loss_star_std": raw["loss_star_std"].astype(float),
            "dataset": raw["dataset"],
            "setup": setup,
            "setup_label": label,
        }
    )
    for col in _PORIAN_CONFIG:
        df[col] = raw[col]
    df, val_note = _porian_filter_val(df, val)
    notes = [
        "Authors' per-budget parabola-fit optima: C = flops_budget, N = N_opt, D = D_opt, "
        "loss = loss_opt, tokens_per_param = tokens_per_param_opt.",
        f"Dropped {n_missing} budgets with no fitted optimum (all-NaN rows): {missing_desc}."
        if n_missing
        else "No budgets without an optimum.",
        "N* and D* are fitted separately, so D is C / (6 N) only approximately for some "
        "configurations (within ~6%); tokens_per_param = C / (6 N^2).",
        "n_star_std, t_star_std, loss_star_std are the authors' bootstrap standard deviations of "
        "the natural log of N*, D*, loss* (inflated by a correction factor).",
        _PORIAN_SETUP_NOTE,
        val_note,
    ]
    return df, " ".join(notes)


_GADRE_VALIDATION_SETS = (
    "openlm",
    "c4_val",
    "paloma_c4_en",
    "paloma_dolma_100_programing_languages",
    "paloma_falcon-refinedweb",
    "paloma_ptb",
    "paloma_redpajama",
    "val_de-en_100",
)


def _suggest(value: str, choices) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _load_gadre_small(*, validation: str = "c4_val") -> tuple[pd.DataFrame, str]:
    if not isinstance(validation, str):
        raise TypeError(f"validation must be a string, got {type(validation).__name__}")
    key = validation.removeprefix("loss_")
    valid = [*_GADRE_VALIDATION_SETS, "all"]
    if key not in valid:
        raise ValueError(
            f"Unknown validation set {validation!r} for 'gadre_small'.{_suggest(key, valid)} "
            f"Valid names: {', '.join(valid)}."
        )
    raw = _read_csv(
        "gadre_small",
        "gadre_overtraining_small.csv",
        dtype={"N": float, "N_no_embed": float, "D": float, "C_6ND": float},
    )
    base = pd.DataFrame(
        {
            "N": raw["N"],
            "D": raw["D"],
            "C": raw["C_6ND"],
            "dataset": raw["dataset"],
            "tokens_per_param": raw["tokens_per_param"].astype(float),
            "chinchilla_multiplier": raw["chinchilla_multiplier"].astype(float),
            "name": raw["name"],
            "model": raw["model"],
            "N_no_embed": raw["N_no_embed"],
            "lr": raw["lr"].astype(float),
            "wd": raw["wd"].astype(float),
            "warmup": raw["warmup"].astype("Int64"),
            "global_bs": raw["global_bs"].astype("Int64"),
            "seed": raw["seed"].astype("Int64"),
        }
    )
    loss_cols = [c for c in raw.columns if c.startswith("loss_")]
    acc_cols = [c for c in raw.columns if c.startswith("acc_")]
    notes = [
        f"{len(raw)} runs with N < 1e9 (the paper's fit set; 1.4B/6.9B targets not bundled). "
        "C = C_6ND = 6 N D; N includes embeddings; dataset is the training set "
        "(c4_original, rpj, rw_original).",
        "c4_original has no 411.6M-parameter run at multiplier 32 (31 runs vs 32 for rpj and "
        "rw_original).",
    ]
    if key != "all":
        df = base.copy()
        df.insert(3, "loss", raw[f"loss_{key}"].astype(float))
        df.insert(4, "validation", key)
        df = pd.concat([df, raw[loss_cols + acc_cols].astype(float)], axis=1)
        notes.append(
            f"loss = loss_{key} (validation={key!r}); all loss_* (with 95% CI bounds) and "
            f"{len(acc_cols)} acc_* columns kept."
        )
    else:
        parts = []
        for order, vset in enumerate(_GADRE_VALIDATION_SETS):
            part = base.copy()
            part.insert(3, "loss", raw[f"loss_{vset}"].astype(float))
            part.insert(4, "validation", vset)
            part["loss_lo95"] = raw[f"loss_{vset}_lo95"].astype(float)
            part["loss_hi95"] = raw[f"loss_{vset}_hi95"].astype(float)
            part["_run"] = np.arange(len(raw))
            part["_order"] = order
            parts.append(part)
        df = (
            pd.concat(parts, ignore_index=True)
            .sort_values(["_run", "_order"], kind="stable")
            .drop(columns=["_run", "_order"])
        )
        notes.append(
            f"validation='all': long format, one row per (run, validation set) = "
            f"{len(raw)} x {len(_GADRE_VALIDATION_SETS)} rows; loss / loss_lo95 / loss_hi95 are "
            "that set's loss and 95% CI; the wide loss_* and acc_* columns are dropped."
        )
    return df, " ".join(notes)


_BTLM = "cerebras/btlm-3b-8k-base"
_OBS_BENCHMARKS = (
    "MMLU",
    "ARC-C",
    "HellaSwag",
    "Winograd",
    "TruthfulQA",
    "GSM8K",
    "XWinograd",
    "HumanEval",
)


def _load_obsscaling() -> tuple[pd.DataFrame, str]:
    raw = _read_csv("obsscaling", "base_llm_benchmark_eval.csv")
    N = raw["Model Size (B)"].astype(float) * 1e9
    D = raw["Pretraining Data Size (T)"].astype(float) * 1e12
    C = raw["FLOPs (1E21)"].astype(float) * 1e21
    bad = (raw["Model"] == _BTLM) & (raw["Pretraining Data Size (T)"] == 627.0)
    if bad.any():
        D = D.where(~bad, 0.627e12)
        C = C.where(~bad, 6.0 * N * D)
        fix = (
            f"Fixed the documented unit error for {_BTLM}: Pretraining Data Size 627 T -> 0.627 T "
            "(627B tokens) and C recomputed as 6 N D (1.1286e22 instead of 1.1286e25)."
        )
    else:
        fix = f"The source's btlm unit error ({_BTLM}, 627 T) was not present; nothing fixed."
    df = pd.DataFrame(
        {
            "N": N,
            "D": D,
            "C": C,
            "family": raw["Model Family"],
            "model": raw["Model"],
        }
    )
    for col in _OBS_BENCHMARKS:
        df[col] = raw[col].astype(float)
    n_nod = int(df["D"].isna().sum())
    notes = [
        "No loss column: the targets are downstream benchmark accuracies (0-1) in columns "
        f"{', '.join(_OBS_BENCHMARKS)}.",
        "N = Model Size (B) * 1e9, D = Pretraining Data Size (T) * 1e12, C = FLOPs (1E21) * 1e21 "
        "(= 6 N D in the source); the original unit columns are dropped.",
        fix,
        f"{n_nod} models without a reported D / FLOPs are kept with NaN D and C.",
    ]
    return df, " ".join(notes)


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    folder: str
    loader: Callable[..., tuple[pd.DataFrame, str]]
    description: str


_REGISTRY: dict[str, _Spec] = {
    "chinchilla": _Spec(
        "chinchilla",
        _load_chinchilla,
        "Hoffmann et al. (2022) Chinchilla Fig. 4 runs, digitised by Besiroglu et al. (2024); "
        "N, D = C/(6N), C, final training loss on MassiveText.",
    ),
    "datablations": _Spec(
        "datablations",
        _load_datablations,
        "Muennighoff et al. (2023) data-constrained runs on C4: N, D, unique tokens U, epochs, "
        "seed replicates, final validation loss.",
    ),
    "gadre_small": _Spec(
        "gadre_small",
        _load_gadre_small,
        "Gadre et al. (2024) over-training grid (10.6M-411.6M params, 3 training sets, "
        "token multipliers 0.25-32): 8 validation losses and 46 downstream accuracies.",
    ),
    "obsscaling": _Spec(
        "obsscaling",
        _load_obsscaling,
        "Ruan et al. (2024) benchmark accuracies of 148 public base models in 47 families, "
        "with N, D and FLOPs (no loss).",
    ),
    "porian": _Spec(
        "porian",
        _load_porian,
        "Porian et al. (2024) isoFLOP points (budgets 1.25e16-2.56e19) for 15 configurations: "
        "10 training set-ups on RefinedWeb, 5 on OpenWebText2.",
    ),
    "porian_optima": _Spec(
        "porian",
        _load_porian_optima,
        "Porian et al. (2024) authors' per-budget compute-optimal (N*, D*, loss*) with bootstrap "
        "log-standard deviations, for the same 15 configurations.",
    ),
}


def _spec(name: str) -> _Spec:
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    names = available()
    raise ValueError(
        f"Unknown dataset {name!r}.{_suggest(key, names)} Available datasets: {', '.join(names)}."
    )


def available() -> list[str]:
    """List the names of the bundled datasets.

    Returns
    -------
    list of str
        Sorted dataset names accepted by :func:`load`, :func:`citation` and :func:`provenance`.

    Examples
    --------
    >>> from bayescale import datasets
    >>> datasets.available()
    ['chinchilla', 'datablations', 'gadre_small', 'obsscaling', 'porian', 'porian_optima']
    """
    return sorted(_REGISTRY)


def citation(name: str) -> str:
    """Return the plain-text citation(s) for a bundled dataset.

    Parameters
    ----------
    name : str
        A name from :func:`available`.

    Returns
    -------
    str
        Contents of the bundled ``CITATION.txt`` (plain text followed by BibTeX entries).

    Raises
    ------
    ValueError
        If `name` is not a bundled dataset (the message lists the available names).

    Examples
    --------
    >>> from bayescale import datasets
    >>> "Besiroglu" in datasets.citation("chinchilla")
    True
    """
    return _read_text(_spec(name).folder, "CITATION.txt")


def provenance(name: str) -> str:
    """Return the provenance record of a bundled dataset.

    Parameters
    ----------
    name : str
        A name from :func:`available`.

    Returns
    -------
    str
        Full text of the bundled ``PROVENANCE.md``: source repository and commit, licence,
        citation, how the file was made and a dictionary of the raw columns.

    Raises
    ------
    ValueError
        If `name` is not a bundled dataset.

    Examples
    --------
    >>> from bayescale import datasets
    >>> "huggingface/datablations" in datasets.provenance("datablations")
    True
    """
    return _read_text(_spec(name).folder, "PROVENANCE.md")


def load(name: str, **options) -> pd.DataFrame:
    """Load a bundled real scaling-law dataset as a tidy runs table.

    Parameters
    ----------
    name : str
        Dataset name (case-insensitive), one of :func:`available`:

        ``"chinchilla"`` (245 rows)
            ``N`` = "Model Size", ``C`` = "Training FLOP", ``D = C / (6 N)``, ``loss`` (final
            training loss), ``dataset = "massivetext"``, and the boolean ``besiroglu_outlier``
            marking the 5 highest-loss (under-trained) points that Besiroglu et al. (2024) drop.
        ``"datablations"`` (307 finished runs)
            ``N, D, C (= 6ND), loss`` (final validation loss), ``U`` (unique tokens), ``epochs``,
            ``seed``, ``run_name`` and the flags ``is_seed_replicate``, ``is_dedup``,
            ``is_opt_shape``, ``used_in_authors_main_list``. The 9 unfinished runs are dropped.
        ``"porian"`` (1,745 points; 940 with the default ``val="val"``)
            isoFLOP points: ``N, D, C (= budget), loss, dataset`` (``rw``/``owt2``), ``setup``,
            ``setup_label`` and the raw configuration columns ``source_file, hparams, warmup,
            decay, param_count, val``. ``setup`` is ``"{hparams}/{warmup}/{decay}/{param_count}"``;
            with ``dataset`` it identifies the authors' 15 configurations (10 set-ups on
            RefinedWeb, the 5 Fig. 1 set-ups on OpenWebText2). ``val`` and ``source_file`` are
            functions of these (``val == "val"`` exactly when ``param_count == "standard"``).
            ``setup_label`` is the authors' Fig. 1 step name, e.g.
            ``base/long/kaplan/kaplan`` -> "Reproducing Kaplan et al.",
            ``base/long/kaplan/standard`` -> "Counting last layer FLOPs",
            ``base/short/kaplan/standard`` -> "Correcting warmup",
            ``base/short/chinchilla/standard`` -> "Cosine decay",
            ``tuned/short/const/standard`` -> "Optimizer tuning (no decay)"; the ``attention``
            variants count attention FLOPs, and ``tuned/long/const/kaplan`` is Kaplan's counting
            and warmup with tuned optimizer.
        ``"porian_optima"`` (173 rows; 94 with ``val="val"``)
            the authors' per-budget optima: ``C, N (= N*), D (= D*), loss (= loss*)``,
            ``tokens_per_param``, the log-scale bootstrap stds ``n_star_std, t_star_std,
            loss_star_std`` and the same setup/configuration columns. 4 budgets without an
            optimum are dropped. ``D`` is only approximately ``C / (6 N)`` here.
        ``"gadre_small"`` (95 runs; 760 rows with ``validation="all"``)
            ``N, D, C (= 6ND), loss, validation, dataset`` (training set: ``c4_original``,
            ``rpj``, ``rw_original``), ``tokens_per_param``, ``chinchilla_multiplier``, run
            hyper-parameters, all ``loss_*`` columns (8 validation sets with 95% CI bounds) and
            46 ``acc_*`` downstream accuracies.
        ``"obsscaling"`` (148 models)
            ``N, D, C, family, model`` and benchmark accuracies ``MMLU, ARC-C, HellaSwag,
            Winograd, TruthfulQA, GSM8K, XWinograd, HumanEval``. **There is no loss column.**
            25 models have no reported ``D``/``C`` (kept as NaN); the source's unit error for
            ``cerebras/btlm-3b-8k-base`` (627 T tokens) is corrected to 0.627 T.
    **options
        Dataset-specific keyword options:

        * ``chinchilla``: ``drop_outliers: bool = False`` -- remove the 5 flagged rows.
        * ``datablations``: ``main_only: bool = False`` -- keep only the authors' main run list
          (``used_in_authors_main_list``; 229 rows).
        * ``porian`` and ``porian_optima``: ``val: str | None = "val"`` -- ``"val"`` keeps
          held-out validation-loss rows, ``"train"`` smoothed training-loss rows, ``None`` both.
          Because the loss type is tied to the parameter-count convention in the source, the
          default keeps only the 8 ``param_count="standard"`` configurations.
        * ``gadre_small``: ``validation: str = "c4_val"`` -- which validation set provides
          ``loss`` (a ``loss_{set}`` name with or without the ``loss_`` prefix: ``openlm``,
          ``c4_val``, ``paloma_c4_en``, ``paloma_dolma_100_programing_languages``,
          ``paloma_falcon-refinedweb``, ``paloma_ptb``, ``paloma_redpajama``,
          ``val_de-en_100``), or ``"all"`` for long format with one row per (run, validation
          set) and ``loss_lo95``/``loss_hi95`` for that set (``acc_*`` columns dropped).
        * ``obsscaling``: none.

    Returns
    -------
    pandas.DataFrame
        Runs table following the schema in the module docstring, with a fresh ``RangeIndex``,
        rows in source-file order, and ``.attrs`` keys ``name``, ``description``, ``citation``,
        ``provenance``, ``source``, ``loss_units``, ``notes`` and ``options``.

    Raises
    ------
    ValueError
        If `name` is unknown (the message lists the available names and suggests the closest)
        or an option has an invalid value.
    TypeError
        If an option is not accepted by the dataset (the message lists the valid options).

    Examples
    --------
    >>> from bayescale import datasets
    >>> df = datasets.load("chinchilla")
    >>> len(df), int(df["besiroglu_outlier"].sum())
    (245, 5)
    >>> len(datasets.load("chinchilla", drop_outliers=True))
    240
    >>> long = datasets.load("gadre_small", validation="all")
    >>> long["validation"].nunique(), len(long)
    (8, 760)
    >>> datasets.load("porian", val=None).groupby("dataset")["setup"].nunique().to_dict()
    {'owt2': 5, 'rw': 10}
    >>> df.attrs["source"].split(" @ ")[0]
    'https://github.com/epoch-research/analyzing-chinchilla'
    """
    key = name.strip().lower() if isinstance(name, str) else name
    spec = _spec(name)
    params = inspect.signature(spec.loader).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        valid = ", ".join(f"{p}={params[p].default!r}" for p in params) or "none"
        raise TypeError(
            f"load({key!r}) got unexpected option(s) {', '.join(map(repr, unknown))}. "
            f"Valid options for {key!r}: {valid}."
        )
    df, notes = spec.loader(**options)
    df = df.reset_index(drop=True)
    prov = _read_text(spec.folder, "PROVENANCE.md")
    applied = {p: options.get(p, params[p].default) for p in params}
    df.attrs = {
        "name": key,
        "description": spec.description,
        "citation": _read_text(spec.folder, "CITATION.txt"),
        "provenance": prov,
        "source": _source(prov),
        "loss_units": _LOSS_UNITS,
        "notes": notes,
        "options": applied,
    }
    return df
