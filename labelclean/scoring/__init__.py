"""Per-sample class-probability estimators and label-quality scores (pure numpy at the API).

Estimators map embeddings (and labels) to an (N, K) probability matrix:
``zero_shot.class_probs`` (image vs prompt embeddings), ``logreg.out_of_fold_probs``
(class-balanced logistic regression, out-of-fold) and ``knn.knn_probs`` (neighbour vote).
``quality`` turns a probability matrix into per-sample scores; for every score, higher
means the given label is more likely correct.
"""

ESTIMATORS = ("zeroshot", "logreg", "knn")  # canonical order; the one list of estimator names
