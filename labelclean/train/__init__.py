"""`labelclean train` and `labelclean predict`: classifiers trained on the cleaned set.

Three methods, each a loop over epochs with a checkpoint after every epoch under
``<workdir>/train/<method>/``:

- ``mixfix`` (CLIPCleaner): mixup training on the selected set, absorbing and relabelling
  the other samples after each epoch (``mixfix/``);
- ``deft`` (DeFT): dual-prompt noisy-label detection with VPT on the CLIP image tower, then
  fine-tuning on the detected clean subset (``deft/``);
- ``css`` (CSS): per-epoch 2-D GMM split on the network's loss and CLIP p(given), FixMatch +
  NT-Xent + prior training, CoOp prompts co-trained on the same split (``css/``).

Nothing here is imported by the CLI at start-up: torch, torchvision and timm load lazily.
"""
