"""Evaluation reports: a JSON file per engine, a Markdown table and a PNG chart per run."""

import json
from pathlib import Path

from qa.evaluation.runs import HEADLINE

COLUMNS = [*HEADLINE, "answer_correctness", "faithfulness", "latency_p50_ms", "latency_p95_ms"]
JUDGED = ("answer_correctness", "faithfulness")
GENERATED = [
    "cited_share",
    "answerable_cited",
    "ungrounded_rate",
    "markers_removed_share",
    "markup_share",
    "proposed_short_precision",
    "proposed_short_coverage",
    "first_token_p50_ms",
    "latency_p50_ms",
]


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) and value <= 1 else f"{value:.0f}"


def markdown_table(dataset: str, runs: dict[str, dict]) -> str:
    """One row per engine, one column per metric."""
    header = ["engine", "questions", *COLUMNS]
    lines = [f"### {dataset}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for engine, metrics in runs.items():
        cells = [
            engine,
            str(metrics["questions"]),
            *(
                "not judged" if c in JUDGED and metrics.get(c) is None else _cell(metrics.get(c))
                for c in COLUMNS
            ),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    generated = {engine: m for engine, m in runs.items() if "cited_share" in m}
    if generated:
        header = ["engine", *GENERATED]
        lines += ["", "Generated answers:", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for engine, metrics in generated.items():
            cells = [engine, *(_cell(metrics.get(c)) for c in GENERATED)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_chart(path: Path, dataset: str, runs: dict[str, dict]) -> Path:
    """A grouped bar chart of the headline metrics, one colour per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(len(runs), 1)
    for i, (engine, metrics) in enumerate(runs.items()):
        values = [metrics[m] or 0.0 for m in HEADLINE]
        positions = [x + i * width for x in range(len(HEADLINE))]
        bars = axes.bar(positions, values, width, label=engine)
        axes.bar_label(bars, fmt="%.2f", fontsize=7)
    axes.set_xticks(
        [x + width * (len(runs) - 1) / 2 for x in range(len(HEADLINE))],
        HEADLINE,
        rotation=20,
        fontsize=8,
    )
    axes.set_ylim(0, 1.1)
    axes.set_title(f"qa eval: {dataset}")
    axes.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(
    results_dir: Path,
    dataset: str,
    stamp: str,
    runs: dict[str, tuple[dict, list[dict]]],
    info: dict | None = None,
) -> list[Path]:
    """Write `<dataset>-<engine>-<stamp>.json` per engine and the run's .md and .png."""
    results_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for engine, (metrics, records) in runs.items():
        path = results_dir / f"{dataset}-{engine}-{stamp}.json"
        payload = {
            "dataset": dataset,
            "engine": engine,
            "date": stamp,
            "run": {**(info or {}), "engine": engine},
            "metrics": metrics,
            "questions": records,
        }
        path.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
        written.append(path)
    summary = {engine: metrics for engine, (metrics, _) in runs.items()}
    markdown = results_dir / f"{dataset}-{stamp}.md"
    markdown.write_text(markdown_table(dataset, summary), encoding="utf-8")
    written.append(markdown)
    written.append(write_chart(results_dir / f"{dataset}-{stamp}.png", dataset, summary))
    return written
