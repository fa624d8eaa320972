"""Typed results shared by the service, CLI, UI and evaluation; formatting happens at the edges."""

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Citation:
    """A quoted span of a corpus file: `open(source).read()[start:end] == quote`."""

    n: int
    source: str
    title: str
    start: int
    end: int
    quote: str


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, located in its source file."""

    source: str
    title: str
    start: int
    end: int
    text: str


@dataclass
class Answer:
    """An answer, its short form when there is one, and the passages it cites."""

    question: str
    text: str
    short_answer: str | None = None
    refused: bool = False
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list)  # what retrieval returned, best first

    def to_dict(self) -> dict:
        """The JSON shape of `qa ask --json`."""
        data = asdict(self)
        return {
            "question": data["question"],
            "answer": data["text"],
            "short_answer": data["short_answer"],
            "refused": data["refused"],
            "citations": data["citations"],
            "timings_ms": data["timings_ms"],
        }
