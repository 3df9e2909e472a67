"""reprobook: the shared library of the reproducible research book.

Sub-packages: ``data`` (datasets, GPU batches, augmentations), ``losses``, ``models``,
``train`` (loop, checkpoints, schedules), ``eval`` (linear probe, kNN), ``viz`` (plots and the
style), ``run`` (scales, runner, records), ``chapters`` (each chapter's configurations and
experiments, called from its notebooks).
"""
__version__ = "0.1.0"
