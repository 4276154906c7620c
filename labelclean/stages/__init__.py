"""Pipeline stages. Each exposes ``run_<stage>(wd, cfg) -> StageReport``; it reads and writes
the work directory and nothing else (export writes only to its --out)."""
