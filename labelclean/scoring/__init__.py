"""Per-sample class-probability estimators and label-quality scores (pure numpy at the API).

Estimators map embeddings (and labels) to an (N, K) probability matrix:
``zero_shot.class_probs`` (image vs prompt embeddings), ``logreg.out_of_fold_probs``
(class-balanced logistic regression, out-of-fold), ``robust.robust_probs`` (the same, refitted
on the samples it trusts), ``knn.knn_probs`` (neighbour vote) and
``multimodal.multimodal_probs`` (LEMoN-style image and text neighbours).
``quality`` turns a probability matrix into per-sample scores; for every score, higher
means the given label is more likely correct.
"""

ESTIMATORS = ("zeroshot", "logreg", "robust", "knn", "multimodal")  # canonical order; the one list of names
# Run when --estimators is not given (zeroshot needs text). Chosen on the tuning splits of
# benchmarks/detect_quality.py: robust (refitted) beats logreg one-pass by 0.012-0.04 AUROC at
# sym 80 %, asym 40 % and on the hard demo and loses 0.002-0.004 at sym 20/50 %; knn lowered
# AUROC next to robust on asym 40 % and the hard demo.
DEFAULT_ESTIMATORS = ("zeroshot", "robust")
