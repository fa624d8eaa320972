"""The `qa` command: ingest, ask, chat. Errors become one line on stderr and an exit code."""

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qa.core.errors import IndexBusyError, InputError, QAError
from qa.core.schema import Answer
from qa.text.blocks import display

if TYPE_CHECKING:  # imported when a command runs: `qa --help` loads no models
    from qa.ingest.pipeline import IngestReport
    from qa.library import Library
    from qa.service import QAService

SKIPPED_FILES_EXIT = 6
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


class QAGroup(click.Group):
    """Turns QAError (and bad settings) into `qa: error: ...` and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        from pydantic import ValidationError

        try:
            return super().invoke(ctx)
        except QAError as exc:
            click.echo(f"qa: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = "QA_" + "_".join(str(p) for p in problem["loc"]).upper()
            click.echo(f"qa: error: setting {field}: {problem['msg']}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("qa: interrupted", err=True)
            sys.exit(130)


def settings_options(command: Callable) -> Callable:
    """The flags that override `QA_*` settings, shared by every command."""
    options = [
        click.option(
            "--corpus-dir",
            type=click.Path(path_type=Path),
            help="Documents folder [QA_CORPUS_DIR].",
        ),
        click.option(
            "--index-dir", type=click.Path(path_type=Path), help="Index folder [QA_INDEX_DIR]."
        ),
        click.option("--top-k", type=int, help="Passages retrieved per question [QA_TOP_K]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _writable_dir(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """Create the results folder before any slow work, so a bad path fails at once."""
    try:
        value.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(f"cannot create {value}: {exc.strerror}") from None
    return value


RESULTS_DIR = click.option(
    "--results-dir",
    type=click.Path(path_type=Path, file_okay=False),
    callback=_writable_dir,
    default=Path("eval/results"),
    show_default=True,
    help="Where reports are written.",
)


def make_service(**overrides: Any) -> "QAService":
    """The service for the environment's settings with the given flags applied."""
    from qa.core.settings import Settings
    from qa.service import build_service

    return build_service(Settings(**{k: v for k, v in overrides.items() if v is not None}))


@click.group(cls=QAGroup)
def main() -> None:
    """Ask questions of the documents in corpus/ and get answers that cite their sources."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)  # before any model library is imported


@main.command()
@settings_options
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
)
@click.option(
    "--refresh-web",
    is_flag=True,
    help="First fetch every page saved by `qa add` again (a page that cannot be fetched "
    "keeps its old copy).",
)
def ingest(progress: bool | None, refresh_web: bool, **overrides: Any) -> None:
    """Index corpus/: only new or changed files are embedded; deleted files leave the index."""
    library = make_service(**overrides).library
    failed = refresh_pages(library) if refresh_web else 0
    report = library.ingest(progress)
    print_report_lines(report)
    click.echo(report.summary())
    if report.skipped or failed:
        sys.exit(SKIPPED_FILES_EXIT)


def refresh_pages(library: "Library") -> int:
    """Fetch the saved web pages again, one line each; how many could not be fetched."""
    saved, failed = library.refresh_web()
    if not saved and not failed:
        click.echo(f"qa: no saved web pages in {library.settings.corpus_dir / 'web'} to refresh")
    for page in saved:
        news = "unchanged" if page.status == "unchanged" else "refreshed"
        click.echo(f"{news}: {page.path} ({page.url})")
    for path, exc in failed:
        click.echo(f"qa: could not refresh {path}; its old copy is kept: {exc}", err=True)
    return len(failed)


@main.command()
@settings_options
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
)
def add(urls: tuple[str, ...], progress: bool | None, **overrides: Any) -> None:
    """Fetch web pages, keep their main text in corpus/web/<host>/, and index them; the same
    URL again replaces its page. Pages on private addresses need QA_ALLOW_PRIVATE_URLS=1."""
    library = make_service(**overrides).library
    saved, failed, report = library.add_urls(list(urls), progress)
    for page in saved:
        said = "replaced (fetched again)" if page.status == "replaced" else "added"
        click.echo(f"{said}: {page.path} “{page.title}” ({page.url})")
    for exc in failed:
        click.echo(f"qa: error: {exc}", err=True)
    if saved:
        print_report_lines(report)
        click.echo(report.summary())
    if failed:
        sys.exit(failed[0].exit_code)


@main.command()
@settings_options
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ask(question: str, as_json: bool, **overrides: Any) -> None:
    """Answer QUESTION from the indexed corpus, with citations."""
    service = make_service(**overrides)
    if as_json:
        click.echo(json.dumps(service.ask(question).to_dict(), ensure_ascii=False))
    else:
        print_answer(service, question, [])


@main.command()
@settings_options
def chat(**overrides: Any) -> None:
    """Ask questions in a terminal conversation; follow-ups use the earlier turns."""
    service = make_service(**overrides)
    history: list[str] = []
    click.echo("Ask a question about the corpus (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = input("you> ").strip()
        except EOFError:
            break
        if not question or question.lower() in {"exit", "quit"}:
            break
        try:
            print_answer(service, question, history)
            click.echo()
            history.append(question)
        except QAError as exc:
            if exc.exit_code != 2:  # only the question itself may be retried
                raise
            click.echo(f"qa: error: {exc}", err=True)


@main.command()
@settings_options
@click.option("--host", help="Address to listen on [QA_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [QA_PORT, default 7860].")
@click.option(
    "--watch/--no-watch",
    default=None,
    help="Index files added, changed or removed in corpus/ while serving [QA_WATCH, default on].",
)
def serve(**overrides: Any) -> None:
    """Open the chat UI in the browser, indexing corpus/ first if it changed."""
    from qa.interfaces.ui import serve as serve_ui

    service = make_service(**overrides)
    try:
        report = service.library.ingest()
    except IndexBusyError as exc:  # another replica (or `qa ingest`) is indexing right now
        click.echo(f"qa: {exc}; serving the index as it is meanwhile", err=True)
    else:
        print_report_lines(report)
        click.echo(report.summary())
    settings = service.settings
    if settings.watch:
        service.library.watch()
        click.echo(f"qa: watching {settings.corpus_dir} for changes (QA_WATCH=0 turns it off)")
    click.echo(f"qa: chat UI on http://{settings.host}:{settings.port}")
    service.span_reader  # noqa: B018  (exported and loaded before the first question)
    serve_ui(service, settings.host, settings.port)


@main.command()
@settings_options
@click.option("--quick", is_flag=True, help="Small sizes, for CI: a minute, not an hour.")
@click.option(
    "--server/--no-server",
    default=True,
    help="Also measure against servers: a `chroma run` and a throwaway PostgreSQL.",
)
@click.option(
    "--chunks",
    type=click.IntRange(min=1),
    help="Measure retrieval at this one index size (e.g. 1000000) instead of 1k, 10k, 100k.",
)
@click.option(
    "--this-index",
    is_flag=True,
    help="Only time retrieval over the index as it is (QA_INDEX_DIR, or the servers), with "
    "each search alone; nothing is written. Prints one JSON line.",
)
@RESULTS_DIR
def bench(
    quick: bool,
    server: bool,
    chunks: int | None,
    this_index: bool,
    results_dir: Path,
    **overrides: Any,
) -> None:
    """Measure ingestion, retrieval, answer and start-up speed; print a table."""
    from benchmarks.bench import run_bench, table, time_index

    if this_index and (quick or chunks):
        raise InputError("--this-index measures the index as it is: drop --quick and --chunks")
    service = make_service(**overrides)
    if this_index:
        click.echo(json.dumps(time_index(service)))
        return
    figures, path = run_bench(service.settings, quick, server, results_dir, chunks)
    click.echo(table(figures))
    click.echo(f"wrote {path}")


@main.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("../shared/data/squad2-train-10-articles.json"),
    show_default=True,
    help="SQuAD 2.0 training file to learn from.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the learned parameters [default: qa/answering/params.json]; the "
    "span reader goes to qa/models/reader-adapter/ (beside another --output: reader-adapter/).",
)
@click.option(
    "--keep-reader",
    is_flag=True,
    help="Keep the span reader already beside --output; learn only the scorers (about 6 "
    "minutes on 2 cores, not the 25 of a full run).",
)
@click.option(
    "--evaluation-set",
    "evaluation",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="An evaluation set the training data must not overlap (repeat) [default: the question "
    "sets in QA_EVAL_DIR, and ../shared/data/squad-dev-sample.json if it is there].",
)
def train(data: Path, output: Path | None, keep_reader: bool, evaluation: tuple[Path, ...]) -> None:
    """Learn the span reader, the answering step's scorers and their thresholds from SQuAD 2.0
    training data."""
    from qa.answering.calibration import PARAMS
    from qa.training.fit import train as learn

    if not data.is_file():
        raise InputError(f"no training file at {data} (give --data)")
    target = output or PARAMS
    if not target.parent.is_dir() or not os.access(target.parent, os.W_OK):
        raise InputError(f"cannot write {target}: {target.parent} is not a writable folder")
    settings = make_service().settings
    if not evaluation:
        sets = sorted(settings.eval_dir.glob("*.json")) + sorted(settings.eval_dir.glob("*.jsonl"))
        sample = Path("../shared/data/squad-dev-sample.json")
        evaluation = tuple(sets + ([sample] if sample.is_file() else []))
    result = learn(settings, data, target, keep_reader=keep_reader, evaluation=evaluation)
    click.echo(json.dumps(result["out_of_fold"], indent=1))
    click.echo(f"wrote {target} ({result['seconds']} s)")


@main.command(name="eval")
@settings_options
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--squad", type=click.Path(path_type=Path), help="A SQuAD-format file instead.")
@click.option("--engine", "engines", multiple=True, help="Engine to run (repeat to compare).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N questions.")
@click.option(
    "--judge",
    type=click.Choice(["openai", "ollama", "llamacpp"]),
    help="Judge generated answers (answer correctness, faithfulness) with this backend, "
    "configured by the QA_LLM_* settings.",
)
@click.option(
    "--compare",
    is_flag=True,
    help="Compare two runs (FILES: before.json after.json) instead of running questions.",
)
@click.option(
    "--against",
    help="With --compare and one run: 'latest' (the newest earlier run of its set and "
    "engine in --results-dir) or another run's .json.",
)
@RESULTS_DIR
def evaluate(
    files: tuple[Path, ...],
    squad: Path | None,
    engines: tuple[str, ...],
    limit: int | None,
    judge: str | None,
    compare: bool,
    against: str | None,
    results_dir: Path,
    **overrides: Any,
) -> None:
    """Score answers against FILES[0] (JSON Lines) or --squad FILE and write reports; or,
    with --compare, compare two runs: metric deltas, flipped questions, significance."""
    from datetime import datetime

    from tqdm import tqdm

    from qa.engines import ENGINES
    from qa.evaluation.provenance import run_info
    from qa.evaluation.reports import markdown_table, write_reports
    from qa.evaluation.runs import INDEXING, Evaluation

    if compare or against:
        compare_runs(files, against, results_dir)
        return
    if len(files) > 1:
        raise InputError("give one question file (two run files need --compare)")
    questions_file = files[0] if files else None
    if (questions_file is None) == (squad is None):
        raise InputError("give a question file or --squad FILE (one of them)")
    settings = make_service(**overrides).settings
    names = list(dict.fromkeys(engines)) or [settings.engine]
    for name in names:
        if name not in ENGINES:
            raise InputError(f"unknown engine '{name}'; choose from: {', '.join(ENGINES)}")
    source = squad if squad is not None else questions_file
    assert source is not None  # one of them, checked above
    evaluation = Evaluation(settings, source, names, limit, squad is not None, judge)
    with tqdm(desc="asking", disable=not sys.stderr.isatty()) as bar:
        shown = "asking"
        try:
            for stage, done, total in evaluation:
                if (stage == INDEXING) != (shown == "indexing"):  # a SQuAD file is indexed first
                    shown = "indexing" if stage == INDEXING else "asking"
                    bar.reset(total)
                    bar.set_description(shown)
                bar.total = total
                bar.update(done - bar.n)
        except KeyboardInterrupt:
            click.echo("qa: interrupted; the answers so far are kept as a partial run", err=True)
    runs, dataset = evaluation.results(), evaluation.dataset
    if not runs:
        raise InputError("interrupted before any question was answered; nothing to report")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    info = {**run_info(settings), "judge": evaluation.judge_info}
    paths = write_reports(results_dir, dataset, stamp, runs, info)
    click.echo(markdown_table(dataset, {e: metrics for e, (metrics, _) in runs.items()}))
    for path in paths:
        click.echo(f"wrote {path}")
    if not evaluation.finished:
        sys.exit(130)  # interrupted: the partial run is written and marked "partial"


def compare_runs(files: tuple[Path, ...], against: str | None, results_dir: Path) -> None:
    """Print and write the comparison of two `qa eval` runs."""
    from qa.evaluation.compare import compare, latest_before, load_run, markdown

    if against and len(files) == 1:
        after = load_run(files[0])
        before = (
            latest_before(after, results_dir) if against == "latest" else load_run(Path(against))
        )
    elif len(files) == 2 and not against:
        before, after = load_run(files[0]), load_run(files[1])
    else:
        raise InputError("--compare takes two runs (before.json after.json), or one with --against")
    text = markdown(compare(before, after))
    click.echo(text, nl=False)
    results_dir.mkdir(parents=True, exist_ok=True)
    target = results_dir / f"compare-{Path(before['path']).stem}-vs-{Path(after['path']).stem}.md"
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}")


def print_report_lines(report: "IngestReport") -> None:
    """One line on stderr per skipped file and per file indexed with a note."""
    for skipped in report.skipped:
        click.echo(f"qa: skipped {skipped.path}: {skipped.reason}", err=True)
    for noted in report.notes:
        click.echo(f"qa: note: {noted.path}: {noted.reason}", err=True)


def print_answer(service: "QAService", question: str, history: list[str]) -> Answer:
    """Print a generative answer's tokens as they arrive, then the checked answer."""
    streamed, answer = [], None
    for event in service.stream(question, history):
        if isinstance(event, str):
            streamed.append(event)
            click.echo(event, nl=False)
        else:
            answer = event  # the extractive engine yields its answer again with a short answer
    if answer is None:
        raise AssertionError("the service yielded no answer")
    if not streamed:
        click.echo(format_answer(answer))
        return answer
    click.echo()
    if answer.ungrounded and answer.extractive is not None:
        click.echo("qa: the generated answer cites no passage; the extractive answer:")
        click.echo(format_answer(answer.extractive))
        return answer
    if answer.short_answer:  # the model's, shown only above its calibrated confidence
        click.echo(f"**{answer.short_answer}**")
    if answer.text != "".join(streamed).strip():
        click.echo(f"checked: {answer.text}")
    click.echo(format_answer(answer, with_text=False))
    return answer


def format_answer(answer: Answer, with_text: bool = True) -> str:
    """The answer for a terminal: text, then each cited passage with its location."""
    text = answer.text if answer.sure else f"Not sure; the closest passage: {answer.text}"
    lines = [f"**{answer.short_answer}**\n{text}" if answer.short_answer else text]
    lines = lines if with_text else []
    for citation in answer.citations:
        where = f"{citation.source}, characters {citation.start}-{citation.end}"
        where += citation.place() + (f", from {citation.url}" if citation.url else "")
        lines.append(f"\n[{citation.n}] {citation.title} ({where})")
        lines.append(f'    "{display(citation.quote)}"')
    return "\n".join(lines)
