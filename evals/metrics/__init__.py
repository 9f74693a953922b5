"""One set of metric definitions: small pure functions over the results frame.

Aggregates (:mod:`evals.aggregates`), the recommender's evidence (:mod:`evals.policy.evidence`), the
report (:mod:`evals.report`) and the gate all call these; a number shown anywhere equals the
aggregates' value. No interval is computed here except through :mod:`evals.stats`.

**Failures** (CONTRACTS section 1). Every row is a call. A call either was scored, or failed:

- an *answer failure* (``error_class == "answer"``: refused, truncated at ``max_tokens``) is the model's
  answer: it counts in quality with score 0, and in the failure counts;
- an *infrastructure failure* (``error_class == "infra"``: rate limit, timeout, server error, connection,
  auth, unavailable, rejected request, malformed reply, scorer bug) says nothing about the answer: it is
  left out of quality and counted as availability, per model. A re-run retries it.

Modules, one concept each: :mod:`~evals.metrics.calls` (the per-call arrays and the failure class),
:mod:`~evals.metrics.quality`, :mod:`~evals.metrics.failures` (availability, counts),
:mod:`~evals.metrics.cost`, :mod:`~evals.metrics.latency`, :mod:`~evals.metrics.classification`,
:mod:`~evals.metrics.extraction`, :mod:`~evals.metrics.tool_calls`, :mod:`~evals.metrics.paired`,
:mod:`~evals.metrics.baselines`, :mod:`~evals.metrics.pareto`.
"""

from evals.metrics.baselines import (
    BaselineComparison, SuiteBaseline, baseline_flags, compare_to_baseline, read_baselines, suite_baseline,
)
from evals.metrics.calls import ANSWER, INFRA, Calls, failure_classes
from evals.metrics.classification import INVALID, classification_metrics
from evals.metrics.cost import cost_per_call, judge_cost, per_1k, total_cost
from evals.metrics.estimate import Estimate
from evals.metrics.extraction import extraction_metrics
from evals.metrics.failures import FailureCounts, availability, error_rate, failure_counts, infra_failure_rate
from evals.metrics.latency import latency_percentiles
from evals.metrics.paired import align, detectable_difference, paired_diff, paired_metrics
from evals.metrics.pareto import pareto_frontier
from evals.metrics.quality import example_rate, example_scores, is_pass_fail, quality, repeat_sd, subscores
from evals.metrics.tool_calls import tool_call_metrics

__all__ = [
    "ANSWER", "INFRA", "INVALID", "BaselineComparison", "Calls", "Estimate", "FailureCounts", "SuiteBaseline",
    "align", "availability", "baseline_flags", "classification_metrics", "compare_to_baseline", "cost_per_call",
    "detectable_difference", "error_rate", "example_rate", "example_scores", "extraction_metrics", "failure_classes",
    "failure_counts", "infra_failure_rate", "is_pass_fail", "judge_cost", "latency_percentiles", "paired_diff",
    "paired_metrics", "pareto_frontier", "per_1k", "quality", "read_baselines", "repeat_sd", "subscores",
    "suite_baseline", "tool_call_metrics", "total_cost",
]
