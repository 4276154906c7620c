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
