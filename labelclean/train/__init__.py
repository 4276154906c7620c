"""`labelclean train` and `labelclean predict`: classifiers trained on the cleaned set.

Two methods, each a loop over epochs with a checkpoint after every epoch under
``<workdir>/train/<method>/``:

- ``mixfix`` (CLIPCleaner): mixup training on the selected set, absorbing and relabelling
  the other samples after each epoch (``mixfix.py``);
- ``deft`` (DeFT): dual-prompt noisy-label detection with VPT on the CLIP image tower, then
  fine-tuning on the detected clean subset (``deft.py``, ``deft_model.py``).

Nothing here is imported by the CLI at start-up: torch, torchvision and timm load lazily.
"""
