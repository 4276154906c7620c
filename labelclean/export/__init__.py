"""Export helpers: building the output tables, writing them byte-stably, materialising trees."""
