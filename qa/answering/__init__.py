"""Answering, stage by stage: sentences (candidates and features), spans (short answers),
reader (the bundled model's proposal), calibration (learned scorers), extractive (the engine),
train (how the scorers are learned)."""

from qa.answering.extractive import REFUSAL, ExtractiveAnswerer
from qa.answering.sentences import coverage

__all__ = ["REFUSAL", "ExtractiveAnswerer", "coverage"]
