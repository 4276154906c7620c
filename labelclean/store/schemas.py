"""One Arrow schema per workdir table, plus the metadata every table carries.

Each Parquet file stores JSON under the key ``labelclean`` in its schema metadata:
``{"table": ..., "schema_version": ..., "model_id": ..., **extra}``. Readers refuse a table
with another schema version or another model identity (see ``parquet_io.read_table``).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1
META_KEY = b"labelclean"

# Reason codes live in reasons.py; status is stored as its string value.
MANIFEST = pa.schema(
    [
        ("sample_id", pa.string()),  # path relative to the data root, POSIX separators
        ("path", pa.string()),  # absolute path of the file as found
        ("label", pa.string()),  # given class name (null when unlabelled)
        ("label_id", pa.int32()),  # index into the class list, -1 when unknown
        ("sha256", pa.string()),  # content hash (null when the file could not be read)
        ("size_bytes", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("status", pa.string()),  # "ok" or a reason code
        ("detail", pa.string()),  # human-readable explanation of the status
        ("duplicate_of", pa.string()),  # sample_id of the first identical file, else null
    ]
)


def embeddings_schema(dim: int, dtype: pa.DataType = pa.float16()) -> pa.Schema:
    """Embeddings part files: one row per processed unique file (duplicates share it).

    Decoding happens only here, so a file that turns out corrupt or truncated gets its
    status, detail and a null embedding in the part file; `embed` folds those statuses
    into manifest.parquet. A part file's existence means every row in it is final.
    """
    return pa.schema(
        [
            ("sample_id", pa.string()),
            ("sha256", pa.string()),
            ("status", pa.string()),
            ("detail", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("embedding", pa.list_(dtype, dim)),  # null unless status == "ok"
        ]
    )


def text_schema(dim: int) -> pa.Schema:
    """text.parquet: one row per (class, prompt)."""
    return pa.schema(
        [
            ("class_id", pa.int32()),
            ("class_name", pa.string()),
            ("prompt", pa.string()),
            ("source", pa.string()),  # prompt set: template file or descriptions file
            ("embedding", pa.list_(pa.float32(), dim)),
        ]
    )


# scores.parquet: sample_id, label_id, then for every estimator E in use:
#   E_p_given (float32)        probability of the given label; higher = more likely correct
#   E_consistency (float32)    p(given) / max_k p(k), in (0, 1]; 1 when the given label is the argmax
#   E_norm_logp (float32)      per-class min-max normalised log p(given), in [0, 1]
#   E_pred (int32)             argmax class id
#   E_top3_ids (list<int32>[3]), E_top3_probs (list<float32>[3])
#   E_margin (float32)         p(given) - max_{k != given} p(k), in [-1, 1]
SCORE_FIELDS = {
    "p_given": pa.float32(),
    "consistency": pa.float32(),
    "norm_logp": pa.float32(),
    "pred": pa.int32(),
    "top3_ids": pa.list_(pa.int32(), 3),
    "top3_probs": pa.list_(pa.float32(), 3),
    "margin": pa.float32(),
}


def scores_schema(estimators: list[str]) -> pa.Schema:
    fields = [("sample_id", pa.string()), ("label_id", pa.int32())]
    for est in estimators:
        fields += [(f"{est}_{name}", typ) for name, typ in SCORE_FIELDS.items()]
    return pa.schema(fields)


# probs/<estimator>.parquet: see store/probs.py (its layout depends on the number of classes).


SELECTION = pa.schema(
    [
        ("sample_id", pa.string()),
        ("label_id", pa.int32()),
        ("clean", pa.bool_()),
        ("clean_score", pa.float32()),  # in [0, 1]; higher = more likely correctly labelled
        ("failed", pa.string()),  # comma-separated criteria the sample failed ("" when none)
        ("suggested_label_id", pa.int32()),  # null when no confident alternative
        ("suggested_confidence", pa.float32()),
        ("outlier", pa.bool_()),  # no class fits well ("none of these classes")
        ("decision", pa.string()),  # keep | flag | relabel (after reviewer decisions)
    ]
)

# Columns `select` writes after the SELECTION ones (other writers, e.g. test fixtures, may
# omit them; readers must not require them).
SELECTION_EXTRA = [
    ("votes_clean", pa.int32()),  # estimators/criteria groups whose criteria all pass
    ("p_clean", pa.float32()),  # 2-D GMM clean posterior (methods ensemble and css), else null
]


def selection_schema() -> pa.Schema:
    """What `select` writes: SELECTION plus SELECTION_EXTRA."""
    return pa.schema(list(SELECTION) + [pa.field(n, t) for n, t in SELECTION_EXTRA])


DECISIONS = pa.schema(
    [
        ("sample_id", pa.string()),
        ("decision", pa.string()),  # accept | reject | relabel
        ("label", pa.string()),  # target class for relabel, else null
        ("source", pa.string()),  # file the decision came from
    ]
)

# deft.parquet: written by `train --method deft` (phase 1), read by `select --estimators ...,deft`.
#   p_clean: DeFT clean probability of the given label, sigmoid(s*(cos(img,T+_y) - cos(img,T-_y)));
#            clean iff p_clean > 0.5. Higher = more likely correctly labelled.
#   pred: argmax of the positive-prompt logits; probs: softmax over the positive-prompt logits.
# css.parquet (`train --method css`, read by `select --estimators ...,css`) has the same columns:
#   p_clean: the final 2-D GMM posterior of the clean component (X = p_clean >= --css-eps);
#   pred, probs: the trained network's softmax on un-augmented views.
def deft_schema(n_classes: int) -> pa.Schema:
    return pa.schema(
        [
            ("sample_id", pa.string()),
            ("p_clean", pa.float32()),
            ("pred", pa.int32()),
            ("probs", pa.list_(pa.float32(), n_classes)),
        ]
    )


css_schema = deft_schema

# prompts/<method>.parquet: learned prompts (`train --method css`, DeFT's positive prompts), one row
# per class with the text feature of its learned prompt; `score --prompts learned:<method>` uses them.
learned_prompts_schema = text_schema
