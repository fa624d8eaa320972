"""Answering, stage by stage: sentences (candidates and features), spans (short answers
from the span reader in qa.models.reader), calibration (learned scorers), quotes
(citations) and extractive (the engine). How the scorers and the reader are learned is
qa.training's."""

from qa.answering.extractive import REFUSAL, ExtractiveAnswerer
from qa.answering.sentences import coverage

__all__ = ["REFUSAL", "ExtractiveAnswerer", "coverage"]
