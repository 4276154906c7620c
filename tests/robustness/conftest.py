"""The robustness corpus, shared by this folder's tests and checked to be untouched at the end."""

from __future__ import annotations

import pytest

from robustcorpus import WORKDIR_PREFIX, build_corpus, changes, snapshot


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The corpus (see corpus.py). Tests only read it (work directories go elsewhere, or
    under ``data/labelclean-work*``); after the session every file, link and folder that was
    there must be byte-identical and nothing new may appear outside those workdirs."""
    c = build_corpus(tmp_path_factory.mktemp("corpus"))
    before = snapshot(c.base)
    yield c
    problems = changes(before, snapshot(c.base), allowed_new=(WORKDIR_PREFIX,))
    assert not problems, "the suite modified its source data: " + "; ".join(problems[:10])
