"""Answering, stage by stage: sentences (candidates and features), reading (the span reader),
spans (short answers), calibration (learned scorers), extractive (the engine), train and
finetune (how the scorers and the reader are learned)."""

from qa.answering.extractive import REFUSAL, ExtractiveAnswerer
from qa.answering.sentences import coverage

__all__ = ["REFUSAL", "ExtractiveAnswerer", "coverage"]
