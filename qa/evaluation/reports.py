"""Evaluation reports: a JSON file per engine, a Markdown table and a PNG chart per run."""

import functools
import json
from pathlib import Path

from qa.evaluation.runs import HEADLINE
from qa.settings import Settings

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


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file, computed once per process per version (path, size, mtime)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _digest(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _digest(path: Path, size: int, mtime_ns: int) -> str | None:
    import hashlib

    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def run_info(settings: Settings) -> dict:
    """What a run ran on, so that a comparison can tell a code change from a settings one:
    the commit, the settings (secrets left out), the model files' SHA-256 and the embedder."""
    import subprocess

    from qa.store import indexed_embedder

    models: dict[str, str | None] = {}
    try:
        from qa.answering.reading import ADAPTER
        from qa.embeddings import model_folder

        models["span_reader"] = file_digest(ADAPTER / "adapter_model.safetensors")
        if settings.llm_model and Path(settings.llm_model).is_file():
            models["llm"] = file_digest(Path(settings.llm_model))
        models["embedding_model"] = file_digest(
            model_folder(settings.embedding_model) / "model.safetensors"
        )
    except Exception:  # a missing model is reported by the run itself
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "commit": (commit + ("+changes" if dirty else "")) or None,
        "settings": json.loads(settings.model_dump_json(exclude={"llm_api_key", "session_secret"})),
        "models": models,
        "embedder": indexed_embedder(settings),
    }


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
