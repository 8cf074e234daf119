"""Fixtures for the compute tests: throwaway algorithm packages and small private datasets."""

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from insitu.compute.package import pack

AlgorithmFactory = Callable[..., bytes]


@pytest.fixture
def make_algorithm(tmp_path: Path) -> AlgorithmFactory:
    """Build and pack a one-module algorithm whose `run(ctx)` body is `body`."""
    counter = iter(range(1000))

    def factory(body: str, parameters: dict[str, Any] | None = None) -> bytes:
        folder = tmp_path / f"alg{next(counter)}"
        folder.mkdir()
        manifest = {
            "name": "probe",
            "version": "1",
            "entry_point": "probe:run",
            "parameters": parameters or {"type": "object"},
            "outputs": [],
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))
        code = "import json, os, socket, sys, time\n\n\ndef run(ctx):\n"
        (folder / "probe.py").write_text(code + textwrap.indent(textwrap.dedent(body), "    "))
        return pack(folder)

    return factory


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """A small private table in its own directory."""
    folder = tmp_path / "private"
    folder.mkdir()
    path = folder / "table.csv"
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_csv(path, index=False)
    return path


def classification_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A learnable binary task: label depends linearly on two of three features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.2 * rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame({"f0": x[:, 0], "f1": x[:, 1], "f2": x[:, 2], "label": y})
