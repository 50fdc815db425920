"""Tests for the bundled real datasets (bayescale.datasets)."""

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescale import datasets
from bayescale.data import datasets as impl

SHARED = Path("/work/shared/data")
FOLDERS = ["chinchilla", "datablations", "porian", "gadre_small", "obsscaling"]
ATTR_KEYS = {"name", "description", "citation", "provenance", "source", "loss_units", "notes"}
AUTHORS = {
    "chinchilla": ["Besiroglu", "Hoffmann"],
    "datablations": ["Muennighoff"],
    "porian": ["Porian", "Carmon"],
    "porian_optima": ["Porian"],
    "gadre_small": ["Gadre", "Schmidt"],
    "obsscaling": ["Ruan", "Hashimoto"],
}
# datasets where D is defined (or verified) as C / (6 N)
SIX_ND = ["chinchilla", "datablations", "porian", "gadre_small", "obsscaling"]


@pytest.fixture(scope="module")
def frames():
    return {name: datasets.load(name) for name in datasets.available()}


def test_reexports():
    assert datasets.load is impl.load
    assert datasets.available is impl.available
    assert datasets.citation is impl.citation
    assert datasets.provenance is impl.provenance


def test_available():
    assert datasets.available() == [
        "chinchilla",
        "datablations",
        "gadre_small",
        "obsscaling",
        "porian",
        "porian_optima",
    ]


@pytest.mark.parametrize("name", ["chinchilla", "datablations", "gadre_small", "obsscaling",
                                  "porian", "porian_optima"])
def test_common_schema_and_attrs(frames, name):
    df = frames[name]
    assert isinstance(df.index, pd.RangeIndex) and df.index.start == 0
    for col in ("N", "D", "C"):
        assert df[col].dtype == np.float64
    finite = df["D"].notna() if name == "obsscaling" else slice(None)
    for col in ("N", "D", "C") + (() if name == "obsscaling" else ("loss",)):
        vals = df.loc[finite, col].to_numpy()
        assert np.all(np.isfinite(vals)) and np.all(vals > 0), col
    if name == "obsscaling":
        assert "loss" not in df.columns
    else:
        assert df["loss"].dtype == np.float64
    assert ATTR_KEYS <= set(df.attrs)
    assert df.attrs["name"] == name
    assert df.attrs["loss_units"] == "nats/token"
    assert "\n" not in df.attrs["description"] and df.attrs["description"]
    assert df.attrs["notes"]
    assert df.attrs["source"].startswith("https://github.com/")
    assert len(df.attrs["source"].split(" @ ")[1]) == 40
    assert df.attrs["citation"] == datasets.citation(name)
    assert df.attrs["provenance"] == datasets.provenance(name)
    for author in AUTHORS[name]:
        assert author in df.attrs["citation"]


@pytest.mark.parametrize("name", SIX_ND)
def test_D_equals_C_over_6N(frames, name):
    df = frames[name].dropna(subset=["D", "C"])
    np.testing.assert_allclose(df["D"], df["C"] / (6 * df["N"]), rtol=1e-9)


def test_deterministic(frames):
    for name in ("porian", "gadre_small"):
        pd.testing.assert_frame_equal(datasets.load(name), frames[name])


def test_name_is_case_insensitive():
    assert len(datasets.load(" Chinchilla ")) == 245


# --- chinchilla -----------------------------------------------------------------------------


def test_chinchilla(frames):
    df = frames["chinchilla"]
    assert len(df) == 245
    assert not {"x", "y", "color", "hex_color"} & set(df.columns)
    assert df["besiroglu_outlier"].dtype == bool
    assert df["besiroglu_outlier"].sum() == 5
    top5 = set(df["loss"].nlargest(5).index)
    assert set(df.index[df["besiroglu_outlier"]]) == top5
    flagged = df["besiroglu_outlier"]
    assert df.loc[flagged, "loss"].min() > df.loc[~flagged, "loss"].max()
    kept = datasets.load("chinchilla", drop_outliers=True)
    assert len(kept) == 240 and not kept["besiroglu_outlier"].any()


# --- datablations ---------------------------------------------------------------------------


def test_datablations(frames):
    df = frames["datablations"]
    assert len(df) == 316 - 9 == 307
    assert "9 unfinished" in df.attrs["notes"]
    for col in ("U", "epochs", "seed", "run_name", "is_seed_replicate", "is_dedup", "is_opt_shape",
                "used_in_authors_main_list"):
        assert col in df.columns
    assert df["seed"].dtype == "Int64"
    assert df["seed"].notna().sum() == df["is_seed_replicate"].sum() == 64
    np.testing.assert_allclose(df["epochs"], df["D"] / df["U"], rtol=1e-9)
    assert (df["dataset"] == "c4").all()
    main = datasets.load("datablations", main_only=True)
    assert len(main) == 229 and main["used_in_authors_main_list"].all()
    assert not (main["is_seed_replicate"] | main["is_dedup"] | main["is_opt_shape"]).any()


# --- porian ---------------------------------------------------------------------------------


def test_porian_setups():
    df = datasets.load("porian", val=None)
    assert len(df) == 1745
    per_dataset = df.groupby("dataset")["setup"].nunique().to_dict()
    assert per_dataset == {"rw": 10, "owt2": 5}
    assert df[["dataset", "setup"]].drop_duplicates().shape[0] == 15
    # the raw configuration columns add nothing beyond (dataset, setup)
    cfg = ["dataset", "source_file", "hparams", "warmup", "decay", "param_count", "val"]
    assert df[cfg].drop_duplicates().shape[0] == 15
    assert (df.groupby(["dataset", "setup"])[cfg].nunique() == 1).all().all()
    assert ((df["val"] == "val") == (df["param_count"] == "standard")).all()
    assert df["setup_label"].notna().all()
    assert set(df.loc[df["setup"] == "base/long/kaplan/kaplan", "setup_label"]) == {
        "Reproducing Kaplan et al."
    }
    assert df["setup"].map(lambda s: s.count("/")).eq(3).all()


def test_porian_val_option(frames):
    val = frames["porian"]
    train = datasets.load("porian", val="train")
    assert (val["val"] == "val").all() and (train["val"] == "train").all()
    assert len(val) == 940 and len(train) == 805
    assert {"N", "D", "C", "loss", "dataset", "setup", "source_file", "hparams", "warmup", "decay",
            "param_count", "val"} <= set(val.columns)
    assert val["C"].min() == 1.25e16 and val["C"].max() == 2.56e19
    with pytest.raises(ValueError, match="val must be one of"):
        datasets.load("porian", val="validation")


def test_porian_optima(frames):
    df = datasets.load("porian_optima", val=None)
    assert len(df) == 177 - 4
    extra = {"n_star_std", "t_star_std", "loss_star_std", "tokens_per_param", "setup"}
    assert extra <= set(df.columns)
    assert df[["dataset", "setup"]].drop_duplicates().shape[0] == 15
    np.testing.assert_allclose(df["D"], df["C"] / (6 * df["N"]), rtol=0.07)
    assert len(frames["porian_optima"]) == 94
    assert datasets.citation("porian_optima") == datasets.citation("porian")


# --- gadre_small ----------------------------------------------------------------------------


def test_gadre_small_wide(frames):
    df = frames["gadre_small"]
    assert len(df) == 95
    assert df["N"].max() < 1e9
    assert set(df["dataset"]) == {"c4_original", "rpj", "rw_original"}
    np.testing.assert_allclose(df["loss"], df["loss_c4_val"])
    assert (df["validation"] == "c4_val").all()
    assert sum(c.startswith("acc_") for c in df.columns) == 46
    assert sum(c.startswith("loss_") for c in df.columns) == 24
    np.testing.assert_allclose(df["tokens_per_param"], df["D"] / df["N"], rtol=1e-9)
    np.testing.assert_allclose(df["chinchilla_multiplier"] * 20, df["tokens_per_param"])
    other = datasets.load("gadre_small", validation="paloma_ptb")
    np.testing.assert_allclose(other["loss"], other["loss_paloma_ptb"])
    prefixed = datasets.load("gadre_small", validation="loss_paloma_ptb")
    pd.testing.assert_series_equal(prefixed["loss"], other["loss"])


def test_gadre_small_long(frames):
    wide = frames["gadre_small"]
    df = datasets.load("gadre_small", validation="all")
    assert len(df) == 95 * 8 == 760
    assert df["validation"].nunique() == 8
    assert not any(c.startswith("acc_") for c in df.columns)
    assert df.groupby("name").size().eq(8).all()
    c4 = df[df["validation"] == "c4_val"].reset_index(drop=True)
    np.testing.assert_allclose(c4["loss"], wide["loss_c4_val"])
    assert list(c4["name"]) == list(wide["name"])
    assert (df["loss_lo95"] <= df["loss"]).all() and (df["loss"] <= df["loss_hi95"]).all()
    assert np.all(np.isfinite(df["loss"])) and (df["loss"] > 0).all()


def test_gadre_small_bad_validation():
    with pytest.raises(ValueError, match=r"Did you mean 'c4_val'.*Valid names: openlm"):
        datasets.load("gadre_small", validation="c4val")


# --- obsscaling -----------------------------------------------------------------------------


def test_obsscaling(frames):
    df = frames["obsscaling"]
    assert len(df) == 148
    assert df["family"].nunique() == 47
    assert "loss" not in df.columns
    assert {"MMLU", "ARC-C", "HellaSwag", "GSM8K"} <= set(df.columns)
    assert df["D"].isna().sum() == 25 and df["C"].isna().sum() == 25
    btlm = df[df["model"] == "cerebras/btlm-3b-8k-base"].iloc[0]
    assert btlm["D"] == pytest.approx(0.627e12)
    assert btlm["C"] == pytest.approx(6 * 3e9 * 0.627e12)
    assert df["D"].max() < 100e12
    assert "btlm" in df.attrs["notes"]
    llama = df[df["model"] == "meta-llama/Llama-2-7b-hf"].iloc[0]
    assert (llama["N"], llama["D"], llama["C"]) == pytest.approx((7e9, 2e12, 8.4e22))


# --- errors ---------------------------------------------------------------------------------


def test_unknown_name_suggests():
    msg = r"Did you mean 'chinchilla'.*Available datasets: chinchilla"
    with pytest.raises(ValueError, match=msg):
        datasets.load("chinchila")
    with pytest.raises(ValueError, match="Available datasets"):
        datasets.citation("nope")
    with pytest.raises(ValueError, match="Available datasets"):
        datasets.provenance("nope")


def test_unknown_option():
    with pytest.raises(TypeError, match=r"unexpected option.*'validation'.*main_only=False"):
        datasets.load("datablations", validation="c4_val")
    with pytest.raises(TypeError, match="Valid options for 'obsscaling': none"):
        datasets.load("obsscaling", val="val")


# --- bundled files --------------------------------------------------------------------------


def _bundled(folder):
    return resources.files("bayescale") / "data" / "bundled" / folder


@pytest.mark.parametrize("folder", FOLDERS)
def test_bundle_contents(folder):
    names = {p.name for p in _bundled(folder).iterdir()}
    assert {"PROVENANCE.md", "CITATION.txt"} <= names
    assert any(n.endswith(".csv") for n in names)


@pytest.mark.skipif(not SHARED.is_dir(), reason="/work/shared/data not available")
@pytest.mark.parametrize("folder", FOLDERS)
def test_bundled_bytes_match_shared(folder):
    for entry in _bundled(folder).iterdir():
        if entry.name == "CITATION.txt":
            continue
        assert entry.read_bytes() == (SHARED / folder / entry.name).read_bytes(), entry.name
