"""Train + evaluate an allowlisted scikit-learn estimator next to the data.

The model is returned as a pickle because that is how scikit-learn models are exchanged and it
loads with no extra dependency. Trust implication for the buyer: unpickling runs code chosen
by whoever wrote the file, so load `model.pkl` only from a result whose hash the agreement
fulfilled and from a provider you trust (the provider could in principle tamper with it).

Instance-based estimators (k-NN, SVMs with support vectors) are deliberately absent from the
allowlist: their fitted state *is* training rows, which must not leave the provider. Tree
thresholds are midpoints between neighbouring feature values; a residual disclosure risk
the provider accepts when allowlisting this algorithm.
"""

import importlib
import pickle
from typing import Any

ALLOWED_ESTIMATORS = frozenset(
    {
        "sklearn.linear_model.LogisticRegression",
        "sklearn.linear_model.LinearRegression",
        "sklearn.linear_model.Ridge",
        "sklearn.linear_model.SGDClassifier",
        "sklearn.tree.DecisionTreeClassifier",
        "sklearn.tree.DecisionTreeRegressor",
        "sklearn.ensemble.RandomForestClassifier",
        "sklearn.ensemble.RandomForestRegressor",
        "sklearn.ensemble.GradientBoostingClassifier",
        "sklearn.ensemble.HistGradientBoostingClassifier",
        "sklearn.naive_bayes.GaussianNB",
    }
)


def _estimator(ctx: Any, path: str, params: dict[str, Any]) -> Any:
    # Checked here as well as in the schema: the package, not the worker, owns its allowlist.
    if path not in ALLOWED_ESTIMATORS:
        ctx.reject("NOT_ALLOWED", f"estimator {path} is not in this algorithm's allowlist")
    if params.get("n_jobs") not in (None, 1):
        ctx.reject("BAD_PARAMS", "n_jobs must be 1: the sandbox runs one job per process")
    module_name, class_name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        return cls(**params)
    except TypeError as exc:
        ctx.reject("BAD_PARAMS", f"estimator_params do not fit {path}: {exc}")


def _metrics(model: Any, x_test: Any, y_test: Any) -> dict[str, Any]:
    from sklearn import metrics
    from sklearn.base import is_classifier

    predicted = model.predict(x_test)
    if not is_classifier(model):
        return {
            "task": "regression",
            "r2": float(metrics.r2_score(y_test, predicted)),
            "mae": float(metrics.mean_absolute_error(y_test, predicted)),
            "rmse": float(metrics.mean_squared_error(y_test, predicted) ** 0.5),
        }
    result: dict[str, Any] = {
        "task": "classification",
        "accuracy": float(metrics.accuracy_score(y_test, predicted)),
        "classes": [c.item() if hasattr(c, "item") else c for c in model.classes_],
    }
    if len(model.classes_) == 2 and len(set(y_test)) == 2:
        if hasattr(model, "predict_proba"):
            scores = model.predict_proba(x_test)[:, 1]
        else:
            scores = model.decision_function(x_test)
        result["roc_auc"] = float(metrics.roc_auc_score(y_test, scores))
    return result


def run(ctx: Any) -> None:
    """Entry point: fit on a train split, evaluate on the hold-out split, write the outputs."""
    p = ctx.params
    target = p["target"]
    # Read (and fail on a missing column) before importing scikit-learn, the slow part.
    frame = ctx.read_table(required_columns=(target, *p.get("features", ())))
    import sklearn
    from pandas.api.types import is_numeric_dtype
    from sklearn.base import is_classifier
    from sklearn.model_selection import train_test_split

    features = p.get("features") or [
        c for c in frame.columns if c != target and is_numeric_dtype(frame[c])
    ]
    non_numeric = [c for c in features if not is_numeric_dtype(frame[c])]
    if non_numeric or not features:
        ctx.reject(
            "BAD_PARAMS",
            f"features must be numeric columns; not numeric: {non_numeric}"
            if non_numeric
            else "the table has no numeric feature column",
        )
    used = frame[[*features, target]].dropna()
    model = _estimator(ctx, p["estimator"], p.get("estimator_params", {}))
    x, y = used[features].to_numpy(), used[target].to_numpy()
    stratify = y if is_classifier(model) and used[target].value_counts().min() >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        x,
        y,
        test_size=p.get("test_size", 0.25),
        random_state=p.get("random_state", 0),
        stratify=stratify,
    )
    model.fit(x_train, y_train)
    metrics = _metrics(model, x_test, y_test)
    metrics.update(
        {
            "estimator": p["estimator"],
            "features": features,
            "target": target,
            "n_train": len(x_train),
            "n_test": len(x_test),
            "n_dropped_missing": len(frame) - len(used),
            "model_file": "model.pkl",
            "model_format": "pickle",
            "sklearn_version": sklearn.__version__,
        }
    )
    with open(ctx.output_dir / "model.pkl", "wb") as f:
        pickle.dump(model, f, protocol=5)
    ctx.write_json("metrics.json", metrics)
