"""`qa bench`: ingestion, retrieval, answer and start-up figures, measured in one run.

Every figure is measured here, on this machine, each run; nothing is asserted. The 1k-100k
retrieval indexes hold synthetic vectors and texts, written through the real stores.
"""

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from pydantic import SecretStr
from tqdm import tqdm

from benchmarks.servers import free_port, local_server, postgres_server
from qa.core.settings import Settings
from qa.index.sqlite import LexicalIndex
from qa.index.store import embedder_name, open_store
from qa.ingest.chunking import chunk_document, make_chunker
from qa.ingest.corpus import load_corpus
from qa.service import QAService, build_service
from qa.text.terms import STOPWORDS

QUESTIONS = [
    "When did EU sectoral sanctions start?",
    "How many individuals are on the EU list?",
    "Who came second in the election?",
    "Which agency quotes Lukashenko?",
    "What do Lukashenko's opponents stall?",
]


def peak_mb() -> float:
    """This process's own peak resident memory so far, in MB.

    VmHWM where Linux has it: in a child process, getrusage's ru_maxrss starts from the
    parent's, which a child inherits at exec."""
    try:
        status = Path("/proc/self/status").read_text()
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024, 1)
    except (OSError, IndexError, ValueError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentiles(samples_ms: list[float]) -> dict:
    return {
        "p50_ms": round(float(np.percentile(samples_ms, 50)), 1),
        "p95_ms": round(float(np.percentile(samples_ms, 95)), 1),
    }


class Words:
    """Synthetic text with English-like word frequencies, by Zipf's law over ranked words.

    The most frequent ranks are stop words, then the seed corpus's own words, then made-up
    words, `size` in all: a real 100k-chunk corpus has a vocabulary of that order, and most
    query terms are rare in it. (Drawing uniformly from the seed's few hundred words instead
    puts every query term in a fifth of all chunks, which no real corpus does; the
    `uniform_bm25` figure keeps that worst case.)
    """

    def __init__(self, seed_text: str, size: int = 50_000, seed: int = 13) -> None:
        rng = random.Random(seed)
        seen = sorted({w.strip(".,“”\"'–()").lower() for w in seed_text.split()} - {""})
        self.seed_words = [w for w in seen if w.isalpha()] or ["word"]
        words = sorted(STOPWORDS) + [w for w in self.seed_words if w not in STOPWORDS]
        syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
        made = set(words)
        while len(words) < size:
            word = "".join(rng.choices(syllables, k=rng.randint(2, 4)))
            if word not in made:
                made.add(word)
                words.append(word)
        self.words = np.array(words)
        self.cdf = np.cumsum(1 / np.arange(1, len(words) + 1))
        self.cdf /= self.cdf[-1]
        self.rng = np.random.default_rng(seed)

    def text(self, count: int) -> str:
        return " ".join(self.words[np.searchsorted(self.cdf, self.rng.random(count))])

    def uniform(self, count: int) -> str:
        return " ".join(self.rng.choice(self.seed_words, size=count))


def write_corpus(folder: Path, chunks: int, words: Words, chunk_size: int) -> None:
    """About `chunks` chunks of random sentences, ten chunks a file."""
    rng = random.Random(13)
    folder.mkdir(parents=True)
    per_file = 10 * chunk_size
    for i in range(max(1, chunks // 10)):
        sentences, length = [], 0
        while length < per_file:
            sentences.append(words.text(rng.randint(8, 20)).capitalize() + ".")
            length += len(sentences[-1]) + 1
        (folder / f"doc-{i:05d}.txt").write_text(" ".join(sentences), encoding="utf-8")


def chunk_texts(settings: Settings, corpus: Path) -> list[str]:
    chunker = make_chunker(settings.chunk_size, settings.chunk_overlap)
    return [c.page_content for d in load_corpus(corpus, []) for c in chunk_document(d, chunker)]


def bench_ingest(service: QAService, corpus: Path) -> dict:
    """`qa ingest` chunks/s against qa's own embedder called directly on the same texts.

    The ratio is what the stores and bookkeeping cost; `bench_torch` adds the usual way to
    run the model as a second reference, at the end so that torch does not inflate the
    memory figures of the phases measured before it.
    """
    texts = chunk_texts(service.settings, corpus)
    started = time.perf_counter()
    service.library.ingest()  # its progress bar shows on a terminal
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    service.embeddings.embed_documents(texts)
    encode_s = time.perf_counter() - started
    return {
        "chunks": len(texts),
        "ingest_chunks_per_s": round(len(texts) / ingest_s, 1),
        "encode_chunks_per_s": round(len(texts) / encode_s, 1),
        "ratio": round(encode_s / ingest_s, 3),
        "peak_mb": peak_mb(),
    }


def bench_torch(settings: Settings, corpus: Path, backends: list[dict]) -> dict:
    """`SentenceTransformer.encode` (torch, batches of 64) on the ingested chunk texts."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    from qa.models.embedder import model_folder

    texts = chunk_texts(settings, corpus)
    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(model_folder(settings.embedding_model)), device="cpu")
    started = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True)
    per_s = len(texts) / (time.perf_counter() - started)
    for ingest in backends:
        ingest["torch_encode_chunks_per_s"] = round(per_s, 1)
        ingest["ratio_to_torch"] = round(ingest["ingest_chunks_per_s"] / per_s, 3)
    return {"chunks": len(texts), "chunks_per_s": round(per_s, 1), "peak_mb": peak_mb()}


def steps(size: int, desc: str, step: int = 5000) -> Iterator[int]:
    """The first index of each batch of `step`, with a progress bar on a terminal."""
    with tqdm(total=size, desc=desc, unit="chunk", disable=not sys.stderr.isatty()) as bar:
        for first in range(0, size, step):
            yield first
            bar.update(min(step, size - first))


def bench_retrieval(service: QAService, size: int, words: Words, queries: int = 40) -> dict:
    """Hybrid top-5 latency over `size` synthetic chunks written through the real stores."""
    store, rng = service.store, np.random.default_rng(size)
    started = time.perf_counter()
    for first in steps(size, f"writing {size} synthetic chunks"):
        count = min(5000, size - first)
        ids = [f"synthetic-{first + i}" for i in range(count)]
        texts = [words.text(130) for _ in range(count)]  # about 800 characters, as a chunk
        vectors = rng.normal(size=(count, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        metas = [
            {
                "source": "synthetic.txt",
                "title": "synthetic",
                "chunk": first + i,
                "start": 0,
                "end": len(t),
                "hash": "",
            }
            for i, t in enumerate(texts)
        ]
        store.dense._collection.upsert(
            ids=ids,
            embeddings=vectors,
            documents=texts,
            metadatas=metas,  # type: ignore[arg-type]
        )
        store.lexical.upsert(
            ids, [Document(page_content=t, metadata=m) for t, m in zip(texts, metas, strict=True)]
        )
    write_s = time.perf_counter() - started
    return {
        "chunks": size,
        **time_searches(service, words, queries),
        "write_chunks_per_s": round(size / write_s, 1),
        "peak_mb": peak_mb(),
    }


def time_searches(service: QAService, words: Words, queries: int = 40) -> dict:
    """Hybrid top-5 latency over the service's index, and the p50 of each of its two searches
    alone (the dense one includes embedding the question): hybrid runs them at once, so it
    costs about the slower one plus fusion. Each search gets questions of its own, so none
    finds the pages of another's question already in the page cache."""
    hybrid = service.retriever
    # the RunnableParallel that hybrid_retriever fuses
    branches = hybrid.first.steps__  # type: ignore[attr-defined]
    searches = {"hybrid": hybrid, "dense": branches["dense"], "lexical": branches["lexical"]}
    samples: dict[str, list[float]] = {name: [] for name in searches}
    for search in searches.values():
        search.invoke("warm up the query path")
    for _ in range(queries):
        for name, search in searches.items():
            question = words.text(12) + "?"
            started = time.perf_counter()
            search.invoke(question)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {
        **percentiles(samples["hybrid"]),
        "dense_p50_ms": percentiles(samples["dense"])["p50_ms"],
        "lexical_p50_ms": percentiles(samples["lexical"])["p50_ms"],
    }


def time_index(service: QAService) -> dict:
    """`qa bench --this-index`: `time_searches` over the service's index, with questions
    drawn from its corpus's words."""
    words = Words("\n".join(d.page_content for d in load_corpus(service.settings.corpus_dir, [])))
    return {"chunks": service.store.lexical.count(), **time_searches(service, words)}


def bench_first_retrieval(settings: Settings) -> dict:
    """A new process that opens an index and retrieves once: start-up over that index, and
    the process's own peak memory (which, with remote stores, must not grow with the index)."""
    import os

    env = {
        **os.environ,
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_CHROMA_URL": settings.chroma_url,
        "QA_DATABASE_URL": settings.database_url.get_secret_value(),
        "QA_COLLECTION": settings.collection,
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from benchmarks.bench import first_retrieval; first_retrieval()"],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return {"ok": False, "error": done.stderr.strip()[-300:]}
    return {"ok": True, "seconds": round(seconds, 2), "peak_mb": json.loads(done.stdout)}


def first_retrieval() -> None:
    """The child of `bench_first_retrieval`: open the index of QA_*, retrieve, print peak MB."""
    build_service(Settings()).retriever.invoke(QUESTIONS[0])
    print(peak_mb())


def bench_uniform_bm25(folder: Path, size: int, words: Words, queries: int = 40) -> dict:
    """The worst case for BM25: texts drawn uniformly from the seed's words, lexical only."""
    index = LexicalIndex(folder / "uniform.sqlite3")
    for first in steps(size, f"writing {size} uniform-vocabulary chunks"):
        count = min(5000, size - first)
        index.upsert(
            [f"uniform-{first + i}" for i in range(count)],
            [Document(page_content=words.uniform(130)) for _ in range(count)],
        )
    samples = []
    for _ in range(queries):
        question = words.uniform(8) + "?"
        started = time.perf_counter()
        index.search(question, 20)
        samples.append((time.perf_counter() - started) * 1000)
    index.close()
    return {"chunks": size, **percentiles(samples)}


def bench_ask(service: QAService, rounds: int = 4) -> dict:
    """Warm `ask` latency on the seed corpus."""
    service.ask(QUESTIONS[0])
    samples = []
    for _ in range(rounds):
        for question in QUESTIONS:
            started = time.perf_counter()
            service.ask(question)
            samples.append((time.perf_counter() - started) * 1000)
    return {**percentiles(samples), "peak_mb": peak_mb()}


@contextmanager
def busy_core(seconds: float = 600) -> Iterator[None]:
    """One other CPU-bound process for the duration (it also stops itself after `seconds`)."""
    spin = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"
    busy = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.5)
        yield
    finally:
        busy.kill()
        busy.wait()


def bench_ask_idle_and_loaded(service: QAService, rounds: int) -> dict:
    """Warm `ask` with the default engine on an idle machine, then with one core taken."""
    idle = bench_ask(service, rounds)
    with busy_core():
        loaded = bench_ask(service, rounds)
    return {
        "idle": idle,
        "loaded": loaded,
        "p95_loaded_over_idle": round(loaded["p95_ms"] / idle["p95_ms"], 2),
        "reader_threads": service.settings.embedding_threads,
    }


def bench_cold_start(settings: Settings, env: dict) -> dict:
    """A new `qa ask` process, from start to printed answer."""
    env = {
        **env,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_OF, sys.executable, "-m", "qa", "ask", QUESTIONS[0]],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    peak_kb = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "0"
    return {
        "seconds": round(seconds, 2),
        "ok": done.returncode == 0,
        "peak_mb": round(int(peak_kb) / 1024, 1),
    }


# Runs a command and prints its peak memory (KB). A small process in between, because on
# Linux a child starts its ru_maxrss from its parent's, and the bench's own is large.
PEAK_OF = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


@contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """A `chroma run` on a free loopback port for the side-by-side figures."""
    port = free_port()
    chroma = str(Path(sys.executable).parent / "chroma")
    command = [chroma, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with local_server(command, f"{url}/api/v2/heartbeat"):
        yield url


def bench_backend(
    base: Settings,
    embeddings,
    folder: Path,
    sizes: list[int],
    chunks: int,
    servers: dict | None = None,
) -> dict:
    """Ingestion and retrieval figures for one store: embedded, or `servers` (a Chroma
    server's `chroma_url` and PostgreSQL's `database_url`)."""
    servers = servers or {}
    # a fresh generator for each store, so both get the same corpus, chunks and queries
    words = Words("\n".join(d.page_content for d in load_corpus(base.corpus_dir, [])))
    # throwaway indexes of their own (embedded, or on the bench's own servers), never the
    # index that `base` serves
    settings = base.scratch(folder / "ingest", **servers)
    corpus = settings.corpus_dir
    write_corpus(corpus, chunks, words, base.chunk_size)
    figures = {"ingest": bench_ingest(build_service(settings, embeddings), corpus)}
    for size in sizes:
        synthetic = base.scratch(folder / f"index-{size}", **servers).model_copy(
            update={"engine": "sentence"}
        )
        service = build_service(synthetic, embeddings)
        service.store = open_store(synthetic, embeddings, claim=True)
        service.store.lexical.set_fact("embedder", embedder_name(embeddings))
        figures[f"retrieval_{size}"] = bench_retrieval(service, size, words)
        service.store.lexical.close()
        figures[f"first_retrieval_{size}"] = bench_first_retrieval(synthetic)
    return figures


def bench_reading(settings: Settings, folder: Path, rounds: int) -> dict:
    """Office, OpenDocument, e-book and e-mail files read per second (copies of the seed
    article, read in this process as the extraction worker reads them), and OCR pages per
    second of a 300 dpi scanned-only copy, for each OCR engine (the first is qa's default)."""
    from benchmarks.documents import write_copies
    from qa.ingest.formats import extract
    from qa.ingest.ocr import OcrError, read_image, render_pdf_page

    plain = sorted(settings.corpus_dir.glob("*.md")) + sorted(settings.corpus_dir.glob("*.txt"))
    if not plain:
        return {"skipped": "no .md or .txt file in the corpus to copy into other formats"}
    text = plain[0].read_text(encoding="utf-8")
    copies = write_copies(text, folder)
    office = [p for p in copies if p.suffix != ".pdf"]
    per_format = {}
    for path in office:
        extract(path)  # imports and caches warmed
        began = time.perf_counter()
        for _ in range(rounds):
            extract(path)
        per_format[path.suffix.lstrip(".")] = round(rounds / (time.perf_counter() - began), 1)
    began = time.perf_counter()
    for _ in range(rounds):
        for path in office:
            extract(path)
    figures: dict = {
        "office_files_per_s": round(rounds * len(office) / (time.perf_counter() - began), 1),
        "office_files_per_s_by_format": per_format,
    }
    scan = next(p for p in copies if p.suffix == ".pdf")
    pages = [render_pdf_page(scan, 0), render_pdf_page(scan, 1)]
    for engine in ("tesseract", "rapidocr"):
        try:
            read_image(pages[0], engine=engine)  # models loaded
        except OcrError as exc:  # rapidocr-onnxruntime is a test tool, not a dependency
            figures[f"ocr_pages_per_s_{engine}"] = str(exc)
            continue
        began = time.perf_counter()
        for page in pages:
            read_image(page, settings.ocr_languages, engine=engine)
        figures[f"ocr_pages_per_s_{engine}"] = round(len(pages) / (time.perf_counter() - began), 2)
    figures["ocr_page_pixels"] = f"{pages[0].width}x{pages[0].height} (300 dpi A4)"
    return figures


def run_bench(
    settings: Settings,
    quick: bool,
    server: bool,
    results_dir: Path,
    size: int | None = None,
) -> tuple[dict, Path]:
    """All phases; returns the figures and the JSON file they were written to. `size` (the
    --chunks option) measures retrieval at that one size, and leaves out the worst case and
    the torch reference."""
    import os

    sizes = [size] if size else [1000] if quick else [1000, 10000, 100000]
    chunks = 200 if quick else 5000
    figures: dict = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "quick": quick,
        "cpus": os.cpu_count(),
        "sizes": sizes,
    }
    seed = build_service(settings)
    seed.library.ingest(progress=False)
    rounds = 1 if quick else 4
    figures["ask_sentence"] = bench_ask(seed.variant(engine="sentence"), rounds)
    figures["ask_short_answer"] = bench_ask_idle_and_loaded(
        seed.variant(engine="extractive"), rounds
    )
    figures["cold_start"] = bench_cold_start(settings, dict(os.environ))
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as folder:
        figures["reading"] = bench_reading(settings, Path(folder) / "copies", 3 if quick else 20)
        words = Words("\n".join(d.page_content for d in load_corpus(settings.corpus_dir, [])))
        if not size:
            figures["uniform_bm25"] = bench_uniform_bm25(Path(folder), sizes[-1], words)
        figures["embedded"] = bench_backend(
            settings, seed.embeddings, Path(folder) / "e", sizes, chunks
        )
        if server:
            with (
                chroma_server(Path(folder) / "server-data") as url,
                postgres_server() as database,
            ):
                servers = {"chroma_url": url, "database_url": SecretStr(database)}
                figures["server"] = bench_backend(
                    settings, seed.embeddings, Path(folder) / "s", sizes, chunks, servers
                )
        if not size:
            figures["torch_encode"] = bench_torch(
                settings,
                Path(folder) / "e" / "ingest" / "corpus",
                [figures[b]["ingest"] for b in ("embedded", "server") if b in figures],
            )
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"bench-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return figures, path


def table(figures: dict) -> str:
    """The figures as a Markdown table, embedded and server side by side."""
    backends = [b for b in ("embedded", "server") if b in figures]

    def row(label: str, cells: list) -> str:
        return f"| {label} | " + " | ".join(str(c) for c in cells) + " |"

    ingest = [figures[b]["ingest"] for b in backends]
    largest = f"retrieval_{figures['sizes'][-1]}"
    rows = [row("measure", backends), "|---|" + "---|" * len(backends)]
    rows.append(
        row(
            "ingest chunks/s",
            [f"{i['ingest_chunks_per_s']} ({i['chunks']} chunks)" for i in ingest],
        )
    )
    rows.append(
        row("raw encode chunks/s, qa's ONNX embedder", [i["encode_chunks_per_s"] for i in ingest])
    )
    rows.append(row("ingest / raw ONNX encode", [i["ratio"] for i in ingest]))
    if "torch_encode" in figures:
        rows.append(
            row(
                "raw SentenceTransformer.encode chunks/s (torch)",
                [i["torch_encode_chunks_per_s"] for i in ingest],
            )
        )
        rows.append(
            row(
                "ingest / SentenceTransformer.encode (target >= 0.85)",
                [i["ratio_to_torch"] for i in ingest],
            )
        )
    for size in figures["sizes"]:
        cells = [figures[b][f"retrieval_{size}"] for b in backends]
        rows.append(
            row(
                f"hybrid top-5 p50 / p95 ms, {size} chunks",
                [f"{c['p50_ms']} / {c['p95_ms']}" for c in cells],
            )
        )
        rows.append(
            row(
                f"each search alone p50 ms, dense (embedding included) / lexical, {size} chunks",
                [f"{c['dense_p50_ms']} / {c['lexical_p50_ms']}" for c in cells],
            )
        )
        rows.append(
            row(
                f"synthetic chunks written /s, {size} chunks",
                [c["write_chunks_per_s"] for c in cells],
            )
        )
        firsts = [figures[b][f"first_retrieval_{size}"] for b in backends]
        rows.append(
            row(
                f"new process to first retrieval s, its peak MB, {size} chunks",
                [f"{f['seconds']}, {f['peak_mb']}" if f["ok"] else "failed" for f in firsts],
            )
        )
    rows.append(
        row(
            "peak MB after ingest, after largest retrieval",
            [
                f"{figures[b]['ingest']['peak_mb']}, {figures[b][largest]['peak_mb']}"
                for b in backends
            ],
        )
    )
    if "uniform_bm25" in figures:
        uniform = figures["uniform_bm25"]
        rows.append(
            row(
                f"worst case: BM25 alone p50 / p95 ms, {uniform['chunks']} uniform-vocabulary"
                " chunks",
                [f"{uniform['p50_ms']} / {uniform['p95_ms']}"],
            )
        )
    ask, short, cold = figures["ask_sentence"], figures["ask_short_answer"], figures["cold_start"]
    rows.append(
        row(
            "warm ask p50 / p95 ms, sentence (target <= 150)",
            [f"{ask['p50_ms']} / {ask['p95_ms']}"],
        )
    )
    idle, loaded = short["idle"], short["loaded"]
    rows.append(
        row(
            "warm ask p50 / p95 ms, default engine, idle (target p50 <= 300)",
            [f"{idle['p50_ms']} / {idle['p95_ms']}"],
        )
    )
    rows.append(
        row(
            f"the same with one core busy (p95 loaded / idle {short['p95_loaded_over_idle']},"
            f" target <= 2; QA_EMBEDDING_THREADS={short['reader_threads'] or 'one per CPU'})",
            [f"{loaded['p50_ms']} / {loaded['p95_ms']}"],
        )
    )
    rows.append(
        row(
            "cold start qa ask s (target <= 6), its peak MB",
            [f"{cold['seconds']}, {cold['peak_mb']}"],
        )
    )
    if "office_files_per_s" in figures.get("reading", {}):
        reading = figures["reading"]
        by_format = ", ".join(
            f"{k} {v}" for k, v in reading["office_files_per_s_by_format"].items()
        )
        office = f"{reading['office_files_per_s']} ({by_format})"
        rows.append(row("Office, OpenDocument, e-book, e-mail files read /s", [office]))
        ocr = f"{reading['ocr_pages_per_s_tesseract']} / {reading['ocr_pages_per_s_rapidocr']}"
        rows.append(row("OCR pages /s, Tesseract (default) / RapidOCR, 300 dpi A4", [ocr]))
    return "\n".join(rows)
