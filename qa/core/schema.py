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
    page: int | None = None  # PDFs and scans: the page the quote starts on
    where: str | None = None  # slides, sheets, chapters: "slide 3", "Sheet1, row 14"
    url: str | None = None  # a web page added by `qa add`: its address

    def place(self) -> str:
        """Where the quote stands, for people: ", page 3", ", Sheet1, row 14", or ""."""
        if self.where:
            return f", {self.where}"
        return f", page {self.page}" if self.page else ""


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
    confidence: float | None = None  # calibrated P(the quoted sentence holds the answer)
    sure: bool = True  # False: the best sentence found, shown as "not sure"
    short_answer_confidence: float | None = None  # calibrated P(the short answer is right)
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list)  # what retrieval returned, best first
    generated: bool = False  # written by a language model rather than quoted
    ungrounded: bool = False  # generated, but no citation survived the checks
    extractive: "Answer | None" = None  # shown beside an ungrounded generated answer
    proposed_short_answer: str | None = None  # generated: the model's, before the gate
    markers_written: int = 0  # generated: the [n] markers the model wrote
    markers_removed: int = 0  # generated: those that pointed at nothing and were removed

    def to_dict(self) -> dict:
        """The JSON shape of `qa ask --json`; generated answers also say if they are grounded."""
        data = {
            "question": self.question,
            "answer": self.text,
            "short_answer": self.short_answer,
            "refused": self.refused,
            "confidence": self.confidence,
            "sure": self.sure,
            "short_answer_confidence": self.short_answer_confidence,
            "citations": [
                {
                    k: v
                    for k, v in asdict(c).items()
                    if k not in ("page", "where", "url") or v is not None
                }
                for c in self.citations
            ],
            "timings_ms": self.timings_ms,
        }
        if self.generated:
            data["ungrounded"] = self.ungrounded
            data["extractive"] = self.extractive.to_dict() if self.extractive else None
        return data
