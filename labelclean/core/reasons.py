"""Why a file is not used. Every file found gets exactly one status."""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    ok = "ok"
    missing = "missing"  # listed in a manifest but not on disk
    unreadable = "unreadable"  # permission denied or I/O error
    empty = "empty"  # zero bytes
    not_image = "not_image"  # not a format Pillow can identify
    corrupt = "corrupt"  # identified, but decoding failed
    truncated = "truncated"  # the file ends before the image data does
    too_large = "too_large"  # more pixels than the decompression-bomb limit
    unlabeled = "unlabeled"  # a manifest row without a label, or a label not in --classes
    outside_root = "outside_root"  # a relative manifest path escapes the data root
    symlink_outside_root = "symlink_outside_root"  # a symlink leads out of the data root (not followed)
    symlink_loop = "symlink_loop"  # a folder symlink into the data tree or a folder already listed
    no_features = "no_features"  # --from-features has no usable vector for this file

    def __str__(self) -> str:  # so f-strings print the code, not Reason.x
        return self.value
