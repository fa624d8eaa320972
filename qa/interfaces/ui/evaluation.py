"""The Evaluate tab: run a question set through the same `Evaluation` as `qa eval`, watch it,
read every question's result, keep the runs, and compare any two."""

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr

from qa.core.errors import InputError, QAError
from qa.engines import offered_engines
from qa.evaluation.compare import compare, load_run, markdown
from qa.evaluation.provenance import run_info
from qa.evaluation.reports import write_reports
from qa.evaluation.runs import INDEXING, Evaluation
from qa.interfaces.ui.render import verbatim
from qa.interfaces.ui.uploads import Uploads
from qa.service import QAService

FILTERS = ["all", "failures", "wrong", "unsupported", "wrongly refused", "wrongly answered"]
HEADERS = ["id", "question", "verdict", "short answer", "containment", "EM", "F1"]


def verdict(record: dict) -> str:
    """What happened to one question, in the words of the failure filters."""
    if record.get("unanswerable"):
        return "right" if record.get("refused") else "wrongly answered"
    if record.get("refused"):
        return "wrongly refused"
    if not record.get("containment"):
        return "wrong"
    if record.get("total_citations") and record.get("good_citations", 0) == 0:
        return "unsupported"
    return "right"


def shown(record: dict, wanted: str) -> bool:
    kind = verdict(record)
    return wanted == "all" or kind == wanted or (wanted == "failures" and kind != "right")


class EvaluationHandlers:
    """The tab's event handlers over the service's settings."""

    def __init__(self, service: QAService, uploads: Uploads) -> None:
        self.service = service
        self.settings = service.settings
        self.uploads = uploads
        self.finished: dict[str, threading.Event] = {}  # by browser session: its run ended
        self.kept: dict[str, Path | None] = {}  # by browser session: the run it wrote

    @property
    def results_dir(self) -> Path:
        return self.settings.eval_dir / "results"

    def sets(self) -> list[tuple[str, str]]:
        """The question sets in the eval folder: JSON Lines, and SQuAD-format .json."""
        folder = self.settings.eval_dir
        paths = sorted([*folder.glob("*.jsonl"), *folder.glob("*.json")])
        return [(p.name, str(p)) for p in paths]

    def runs(self) -> list[tuple[str, str]]:
        """Every kept run, newest first, named by set, engine, date and commit."""
        named = []
        for path in self.results_dir.glob("*.json"):
            try:
                run = json.loads(path.read_text(encoding="utf-8"))
                engine, date, dataset = run["engine"], run["date"], run["dataset"]
            except (OSError, ValueError, KeyError, TypeError, RecursionError):
                continue  # benchmarks and other files
            info = run.get("run") or {}
            label = f"{dataset} · {engine} · {date}"
            label += f" · {info['commit']}" if info.get("commit") else ""
            settings = info.get("settings") or {}
            label += f" · top {settings['top_k']}" if "top_k" in settings else ""
            label += " · partial" if run.get("metrics", {}).get("partial") else ""
            named.append((date, label, str(path)))
        return [(label, path) for _, label, path in sorted(named, reverse=True)]

    def refresh(self) -> tuple:
        runs = self.runs()
        return (
            gr.Dropdown(choices=self.sets()),
            gr.Dropdown(choices=runs),
            gr.Dropdown(choices=runs),
            gr.Dropdown(choices=runs),
        )

    def question_set(self, chosen: str | None, uploaded: str | None) -> Path | None:
        """The set to run: an upload this server received, else one of the listed sets."""
        if uploaded:
            return self.uploads.received([uploaded])[0]
        if chosen:
            if chosen not in {path for _, path in self.sets()}:
                raise InputError("choose a question set from the list")
            return Path(chosen)
        return None

    def run(
        self,
        chosen: str | None,
        uploaded: str | None,
        engines: list[str],
        limit: float | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> Iterator[tuple]:
        """Outputs: status, then the finished run's path (which the views then open)."""
        session = request.session_hash or ""
        try:
            path = self.question_set(chosen, uploaded)
        except QAError as exc:
            yield f"⚠️ {verbatim(str(exc))}", gr.skip()
            return
        if path is None or not engines:
            yield "Choose a question set and at least one engine first.", gr.skip()
            return
        evaluation = Evaluation(
            self.settings, path, list(engines), int(limit) if limit else None,
            shared=self.service,
        )  # fmt: skip
        self.finished[session], self.kept[session] = threading.Event(), None
        steps = evaluation.__iter__()  # a generator: closing it stops the run
        try:
            for engine, done, total in steps:
                if engine == INDEXING:
                    progress((done, total) if total else 0, desc=f"indexing {path.name}")
                    yield f"Indexing the paragraphs of {path.name}…", gr.skip()
                    continue
                progress((done, total), desc=f"{engine}: question {done} of {total}")
                yield f"Running {path.name}: {done} of {total} answered…", gr.skip()
        except QAError as exc:
            yield f"⚠️ {verbatim(str(exc))}", gr.skip()
            return
        finally:  # also when stopped: indexing ends, and what was answered is kept as partial
            try:
                steps.close()
                if evaluation.results():
                    written = self.write(evaluation)
                    self.kept[session] = next(p for p in written if p.suffix == ".json")
            finally:
                self.finished[session].set()
        yield (
            f"Finished {path.name}: {evaluation.total} answers.",
            gr.Dropdown(choices=self.runs(), value=str(self.kept[session])),
        )

    def load(self, path: str) -> dict:
        """A kept run of the results folder (no other file is read)."""
        run = Path(path).resolve()
        if run.parent != self.results_dir.resolve() or run.suffix != ".json":
            raise InputError("choose a run from the list")
        return load_run(run)

    def write(self, evaluation: Evaluation) -> list[Path]:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return write_reports(
            self.results_dir,
            evaluation.dataset,
            stamp,
            evaluation.results(),
            run_info(self.settings),
        )

    def stopped(self, request: gr.Request) -> tuple:
        """After Stop: this session's partial run (kept by `run` as it closes) is opened."""
        session = request.session_hash or ""
        finished = self.finished.get(session)
        if finished is not None:
            finished.wait(60)
        kept = self.kept.pop(session, None)
        self.finished.pop(session, None)
        if kept is None:
            return "Stopped before any question was answered: no run was kept.", gr.skip()
        note = "Stopped: the answers so far are kept as a run marked partial."
        return note, gr.Dropdown(choices=self.runs(), value=str(kept))

    def open(self, path: str | None, wanted: str) -> tuple:
        """A run's metrics, chart and questions (filtered)."""
        if not path:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            run = self.load(path)
        except QAError as exc:
            return f"⚠️ {verbatim(str(exc))}", gr.skip(), gr.skip(), gr.skip()
        metrics = [[name, _cell(value)] for name, value in run["metrics"].items()]
        rows = [
            [
                r["id"],
                r.get("question", ""),
                verdict(r),
                r.get("short_answer") or "",
                r.get("containment"),
                r.get("exact_match"),
                round(r.get("f1", 0.0), 3),
            ]
            for r in run["questions"]
            if shown(r, wanted or "all")
        ]
        chart = Path(path).with_name(f"{run['dataset']}-{run['date']}.png")
        partial = " (partial: stopped before the end)" if run["metrics"].get("partial") else ""
        status = f"{run['dataset']} · {run['engine']} · {run['date']}{partial}: {len(rows)} shown"
        image = _image(chart)
        return status, metrics, image, rows

    def details(self, path: str | None, rows: list, event: gr.SelectData) -> str:
        """One question's gold answers, answer, citations, retrieved passages and scores."""
        if not path or event is None:
            return ""
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        try:
            question_id = (rows.values.tolist() if hasattr(rows, "values") else rows)[row][0]
            record = next(r for r in self.load(path)["questions"] if r["id"] == question_id)
        except (IndexError, StopIteration, QAError, TypeError):
            return ""
        return question_details(record)

    def compare(self, before: str | None, after: str | None) -> str:
        if not before or not after:
            return "Choose two runs."
        try:
            return markdown(compare(self.load(before), self.load(after)))
        except QAError as exc:
            return f"⚠️ {verbatim(str(exc))}"


def question_details(record: dict) -> str:
    """Markdown for one question, every piece of text shown verbatim."""
    gold_rank = round(1 / record["rr"]) if record.get("rr") else None
    lines = [
        f"### `{verbatim(record['id'])}` {verbatim(record.get('question', ''))}",
        f"**Verdict:** {verdict(record)}",
        "**Gold answers:** "
        + (
            "; ".join(verbatim(g) for g in record.get("gold", []))
            or "none: the right answer is a refusal"
        ),
        f"**Answer:** {verbatim(record.get('answer', ''))}",
        f"**Short answer:** {verbatim(record.get('short_answer') or '–')}",
    ]
    for citation in record.get("citations", []):
        lines.append(f"> [{citation['n']}] {verbatim(citation['quote'])}")
    lines.append("**Retrieved passages** (✓ the first that holds a gold answer):")
    for rank, passage in enumerate(record.get("retrieved", []), 1):
        mark = " ✓" if rank == gold_rank else ""
        lines.append(
            f"{rank}. {verbatim(Path(passage['source']).name)}, characters "
            f"{passage['start']}-{passage['end']}{mark}"
        )
    scores = ["exact_match", "f1", "containment", "hit1", "hit5", "rr", "latency_ms"]
    lines.append(
        "**Scores:** " + ", ".join(f"{k} {_cell(record.get(k))}" for k in scores if k in record)
    )
    return "\n\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _image(path: Path):
    if not path.is_file():
        return None
    from PIL import Image

    with Image.open(path) as image:
        return image.copy()


def evaluate_tab(service: QAService, demo: gr.Blocks, uploads: Uploads) -> None:
    """The Evaluate tab's components and events, inside the app's Blocks."""
    handlers = EvaluationHandlers(service, uploads)
    private: dict[str, Any] = {"api_visibility": "private"}
    names = [name for name, _ in offered_engines(service.settings)]
    with gr.Tab("Evaluate"):
        gr.Markdown(
            "Run a question set (the format of `eval/questions.jsonl`, your 👍/👎 in "
            "`eval/feedback.jsonl`, or a SQuAD file) through the engines; the runs are kept in "
            "`eval/results`, as `qa eval` keeps them."
        )
        with gr.Row():
            chosen = gr.Dropdown([], label="Question set", elem_id="eval-set", scale=2)
            uploaded = gr.File(
                label="…or upload one (.jsonl, SQuAD .json)",
                file_types=[".jsonl", ".json"],
                type="filepath",
                elem_id="eval-upload",
                scale=2,
            )
        with gr.Row():
            engines = gr.CheckboxGroup(
                names, value=[service.settings.engine], label="Engines", elem_id="eval-engines"
            )
            limit = gr.Number(
                0,
                label="Only the first N questions (0: all)",
                precision=0,
                minimum=0,
                elem_id="eval-limit",
            )
        with gr.Row():
            start = gr.Button("Run", variant="primary", elem_id="eval-run")
            stop = gr.Button("Stop", elem_id="eval-stop")
        status = gr.Markdown(elem_id="eval-status")
        with gr.Row():
            opened = gr.Dropdown([], label="Run", elem_id="eval-opened", scale=3)
            wanted = gr.Dropdown(FILTERS, value="all", label="Show", elem_id="eval-filter")
        with gr.Row():
            metrics = gr.Dataframe(
                headers=["metric", "value"], interactive=False, elem_id="eval-metrics", scale=1
            )
            chart = gr.Image(label="Headline metrics", type="pil", elem_id="eval-chart", scale=2)
        questions = gr.Dataframe(
            headers=HEADERS, interactive=False, wrap=True, elem_id="eval-questions"
        )
        detail = gr.Markdown(elem_id="eval-detail")
        with gr.Accordion("Compare two runs", open=False):
            with gr.Row():
                before = gr.Dropdown([], label="Before", elem_id="eval-before")
                after = gr.Dropdown([], label="After", elem_id="eval-after")
            compare_button = gr.Button("Compare", elem_id="eval-compare")
            comparison = gr.Markdown(elem_id="eval-comparison")

    lists = [chosen, opened, before, after]
    views = [status, metrics, chart, questions]
    running = start.click(
        handlers.run, [chosen, uploaded, engines, limit], [status, opened], **private
    )
    running.then(handlers.refresh, None, lists, **private)
    stop.click(None, cancels=[running], **private).then(
        handlers.stopped, None, [status, opened], **private
    )
    opened.change(handlers.open, [opened, wanted], views, **private)
    wanted.change(handlers.open, [opened, wanted], views, **private)
    questions.select(handlers.details, [opened, questions], detail, **private)
    compare_button.click(handlers.compare, [before, after], comparison, **private)
    demo.load(handlers.refresh, None, lists, **private)
