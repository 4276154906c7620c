"""Workdir stages: ``run_<stage>(wd, cfg) -> <Stage>Report`` reads and writes the work directory
and nothing else (export writes only to its --out); `configs` holds every stage's config (the
defaults of every option) and `pipeline` chains them for `run` and `check`."""
