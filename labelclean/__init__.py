"""labelclean: find and fix wrong labels in image datasets with CLIP."""

__version__ = "0.1.0"
