"""Each chapter's scale configurations and experiments, called from its notebooks.

A chapter module holds ``CONFIGS`` (per notebook, per scale) and the functions its notebooks
call, composed from the rest of the library; notebooks hold no logic of their own.
"""
