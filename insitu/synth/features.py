"""The design matrix the validation model sees: the same for synthetic and real rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from insitu.synth.schema import Schema


def design_matrix(df: pd.DataFrame, schema: Schema) -> np.ndarray:
    """Numeric columns (log1p above the lower bound where the schema says log scale, clipped to
    the bounds) and one-hot categorical columns, in schema order."""
    parts: list[np.ndarray] = []
    for col in schema.features:
        values = df[col.name]
        if col.kind == "numeric":
            x = np.clip(values.to_numpy(dtype=float), col.lower, col.upper)
            if col.log_scale:
                assert col.lower is not None
                x = np.log1p(x - col.lower)
            parts.append(x[:, None])
        else:
            as_str = values.map(str).to_numpy()
            parts.append(np.stack([as_str == str(c) for c in col.categories], axis=1))
    return np.hstack(parts).astype(float)


def binary_labels(df: pd.DataFrame, schema: Schema) -> np.ndarray:
    """1 for the label column's positive class, 0 otherwise."""
    return (df[schema.label.name].map(str) == str(schema.label.positive)).to_numpy(dtype=int)
