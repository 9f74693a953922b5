"""Distilled classifiers: train a small, calibrated text classifier from a suite's labels or a teacher's answers.

:func:`distill` (``evals distill``) writes a versioned artifact that ``provider: sklearn``
(:mod:`evals.providers.sklearn`) serves in process. :mod:`~evals.distill.data` gathers the labelled
texts, :mod:`~evals.distill.train` builds and fits the classifier, :mod:`~evals.distill.calibration`
measures how well its confidence matches its accuracy, :mod:`~evals.distill.build` ties them together.
"""

from evals.distill.build import DistillOptions, DistillResult, distill
from evals.distill.calibration import expected_calibration_error, reliability

__all__ = ["DistillOptions", "DistillResult", "distill", "expected_calibration_error", "reliability"]
