"""labelclean: find and fix wrong labels in image datasets with CLIP.

Layers, lowest first. A module imports only from its own package or from a lower layer
(tests/test_layers.py reads every import and fails on an upward or sideways import, or a
circle); packages on one line are peers and do not import each other::

    core                     errors, console, reasons, templates, report (StageReport), vectors
    ingest                   types (ClassInfo, Candidate, Discovered), table (CandidateTable), discover,
                             manifest, classes_file, decode
    store                    workdir (paths, every lock, run.json), schemas, parquet_io, tables
    model                    encoder (the only open_clip import), source, prompts, context (learned prompts)
    embed, scoring           embed: plan, images, features, source (protocol), parts, outputs;
                             scoring: zero_shot, logreg, knn, quality
    selection                ensemble / criteria / css decisions from probabilities
    review, evaluation       reviewer decisions; metrics, synthetic noise, `noise` (noisy_manifest)
    export, train            cleaned-data writers, top-3; MixFix, DeFT and CSS
    report                   the HTML report
    stages                   configs (every option's default), run_<stage>(workdir, config), pipeline
    demo                     the demo domain and model, and `demo` (run.py: the whole pipeline)
    cli                      typer app, options registry, one thin module per command

See ARCHITECTURE.md for the data flow through the work directory.
"""

__version__ = "0.1.0"

LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer.split()) for layer in (
    "core", "ingest", "store", "model", "embed scoring", "selection", "review evaluation", "export train",
    "report", "stages", "demo", "cli",
))
