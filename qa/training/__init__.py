"""`qa train`: the data and its guard against evaluation sets, the reader's fine-tuning, and
the scorers' fitting."""
