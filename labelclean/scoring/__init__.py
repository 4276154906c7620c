"""Per-sample class-probability estimators and label-quality scores (pure numpy at the API).

Estimators map embeddings (and labels) to an (N, K) probability matrix:
``zero_shot.class_probs`` (image vs prompt embeddings), ``logreg.out_of_fold_probs``
(class-balanced logistic regression, out-of-fold) and ``knn.knn_probs`` (neighbour vote).
``quality`` turns a probability matrix into per-sample scores; for every score, higher
means the given label is more likely correct.
"""

from labelclean.scoring.knn import KnnOptions, KnnResult, knn_probs
from labelclean.scoring.logreg import LogRegOptions, LogRegResult, out_of_fold_probs
from labelclean.scoring.quality import (
    ScoreColumns,
    consistency,
    given_prob,
    margin,
    normalized_log_prob,
    score_columns,
    top_k,
    validate_probs,
)
from labelclean.scoring.zero_shot import AGGREGATIONS, class_probs

ESTIMATORS = ("zeroshot", "logreg", "knn")

__all__ = [
    "AGGREGATIONS",
    "ESTIMATORS",
    "KnnOptions",
    "KnnResult",
    "LogRegOptions",
    "LogRegResult",
    "ScoreColumns",
    "class_probs",
    "consistency",
    "given_prob",
    "knn_probs",
    "margin",
    "normalized_log_prob",
    "out_of_fold_probs",
    "score_columns",
    "top_k",
    "validate_probs",
]
