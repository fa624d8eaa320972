"""Learned scorers: a logistic regression over named features, calibrated to probabilities.

The parameters are data (`params.json` beside this file, written by `qa train`): feature
names, standardisation, weights, and an isotonic map from the raw score to the share of
training examples that were right at that score. Scoring needs only numpy.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PARAMS = Path(__file__).with_name("params.json")

SPAN_PRECISION = 0.85  # of shown short answers, out of fold (0.90 shows ~2%: eval/README.md)


def rows(features: list[dict[str, float]], names: list[str]) -> np.ndarray:
    """Feature dicts as a matrix, one row each, columns in the order of `names`."""
    table = np.array([[f[name] for name in names] for f in features], dtype=float)
    return table.reshape(len(features), len(names))


@dataclass(frozen=True)
class Scorer:
    """P(label) for rows of features, and the threshold chosen for showing a result."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    calibration_x: np.ndarray
    calibration_y: np.ndarray
    threshold: float

    def raw(self, rows: np.ndarray) -> np.ndarray:
        """The logistic regression's decision value of each row."""
        return ((rows - self.mean) / self.scale) @ self.weights + self.bias

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """Calibrated probability of each row (isotonic over the decision value)."""
        return np.interp(self.raw(rows), self.calibration_x, self.calibration_y)

    def score(self, features: list[dict[str, float]]) -> np.ndarray:
        """Calibrated probability of each feature dict (the scorer's own features are read)."""
        return self.probability(rows(features, self.features))

    def to_dict(self) -> dict:
        """The JSON form kept in params.json."""
        return {
            "features": self.features,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias,
            "calibration_x": self.calibration_x.tolist(),
            "calibration_y": self.calibration_y.tolist(),
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Scorer":
        """Read back what to_dict wrote."""
        arrays = {
            k: np.array(data[k], dtype=float)
            for k in ("mean", "scale", "weights", "calibration_x", "calibration_y")
        }
        return cls(
            features=list(data["features"]),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            **arrays,
        )


def load_scorers(path: Path = PARAMS) -> dict[str, Scorer]:
    """The learned scorers by name (sentence, answerable, span)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Scorer.from_dict(value) for name, value in data["scorers"].items()}
