"""The classifier: TF-IDF word and character n-grams, a linear model, calibrated probabilities.

``CalibratedClassifierCV(ensemble=False)`` wraps the whole pipeline (features and linear model): the
calibration map is fitted on cross-validated predictions, each fold with features fitted on its own
training part, and one pipeline is fitted on all the data, so serving costs one model, not five.
:func:`held_out` measures the calibration honestly: cross-validated predictions of the whole
calibrated classifier over the training data (nothing is held back from the final fit).

Training runs with BLAS and OpenMP limited to one thread: on a small shared machine the solver's
thread team spins against itself (logistic regression fitted 13x slower with two threads here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ESTIMATORS = ("logreg", "linear-svm")
CALIBRATIONS = ("sigmoid", "isotonic")
FOLDS = 5

FEATURES = {
    "word": {"analyzer": "word", "ngram_range": [1, 2], "min_df": 1, "sublinear_tf": True},
    "char": {"analyzer": "char_wb", "ngram_range": [2, 5], "min_df": 2, "sublinear_tf": True},
}
ESTIMATOR_PARAMS = {"logreg": {"C": 10.0, "max_iter": 5000}, "linear-svm": {"C": 0.5}}


def _folds(seed: int) -> Any:
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)


def build_classifier(estimator: str = "linear-svm", calibration: str = "sigmoid", seed: int = 0) -> Any:
    """An unfitted calibrated text classifier (see the module docstring)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator {estimator!r}: use one of {', '.join(ESTIMATORS)}")
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration {calibration!r}: use one of {', '.join(CALIBRATIONS)}")
    features = FeatureUnion([(name, TfidfVectorizer(**{**p, "ngram_range": tuple(p["ngram_range"])}))
                             for name, p in FEATURES.items()])
    params = ESTIMATOR_PARAMS[estimator]
    linear = (LogisticRegression(**params) if estimator == "logreg" else LinearSVC(**params, random_state=seed))
    return CalibratedClassifierCV(Pipeline([("features", features), ("linear", linear)]), method=calibration,
                                  cv=_folds(seed), ensemble=False)


def held_out(texts: list[str], labels: list[str], *, estimator: str, calibration: str, seed: int = 0
             ) -> tuple[np.ndarray, list[str]]:
    """Out-of-fold class probabilities of the whole calibrated classifier (rows as ``texts``, columns as
    the returned classes), by stratified 5-fold cross-validation."""
    from sklearn.model_selection import cross_val_predict
    from threadpoolctl import threadpool_limits

    classes = sorted(set(labels))
    with threadpool_limits(1):
        probs = cross_val_predict(build_classifier(estimator, calibration, seed), np.asarray(texts, dtype=object),
                                  np.asarray(labels), cv=_folds(seed), method="predict_proba")
    return probs, classes


def fit(texts: list[str], labels: list[str], *, estimator: str, calibration: str, seed: int = 0) -> Any:
    """The calibrated classifier fitted on every training pair."""
    from threadpoolctl import threadpool_limits

    model = build_classifier(estimator, calibration, seed)
    with threadpool_limits(1):
        return model.fit(np.asarray(texts, dtype=object), np.asarray(labels))
