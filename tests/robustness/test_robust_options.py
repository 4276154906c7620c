"""Issue 14 item 8: option values that used to be silently replaced or misreported."""

from __future__ import annotations

import pytest

from labelclean.core.errors import UsageError
from labelclean.train.common.config import TrainConfig


@pytest.mark.parametrize("value", [0, 1, -4])
def test_train_batch_size_below_two_is_refused(value):
    with pytest.raises(UsageError) as e:
        TrainConfig(method="mixfix", batch_size=value).resolved()
    assert e.value.message == f"--batch-size must be >= 2, got {value}"


def test_train_batch_size_default_applies_only_when_unset():
    assert TrainConfig(method="mixfix").resolved().batch_size == 128


@pytest.mark.parametrize("value", ["nan", "1.5", "-0.1", "inf"])
def test_check_max_noise_out_of_range_names_the_range(tmp_path, value):
    from typer.testing import CliRunner

    from labelclean.cli import app

    r = CliRunner().invoke(app, ["check", str(tmp_path), "--max-noise", value])
    assert r.exit_code == 2
    assert f"--max-noise must be a number in [0, 1], got {float(value)}" in r.stderr
    assert "Traceback" not in r.output


def test_os_errors_become_one_line():
    import errno

    from labelclean.core.errors import os_error

    assert os_error(OSError(errno.ENOSPC, "x"), "/w/a.parquet").message == "no space left on the device to write /w/a.parquet"
    assert os_error(PermissionError(errno.EACCES, "x"), "/d", None).message == "permission denied: /d"
    assert os_error(PermissionError(errno.EACCES, "x"), "/d", "create the folder").message == \
        "permission denied: cannot create the folder /d"
    assert os_error(OSError(errno.EIO, "Input/output error"), "/d/x", None).message == "/d/x: Input/output error"
