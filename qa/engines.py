"""The engine registry: which engines answer (`ENGINES`), what each does in one line, and
which ones these settings can offer."""

from qa.core.settings import Settings
from qa.generation.backends import GENERATIVE_ENGINES

ENGINES = ("extractive", "sentence", *GENERATIVE_ENGINES)
ENGINE_HELP = {
    "extractive": "quotes the best sentence; a short answer only when the reader is sure",
    "sentence": "quotes the best sentence, nothing more (fastest)",
    "llamacpp": "a local GGUF model writes the answer; its citations are checked",
    "ollama": "an Ollama model writes the answer; its citations are checked",
    "openai": "an OpenAI-compatible server writes the answer; its citations are checked",
}


def offered_engines(settings: Settings) -> list[tuple[str, str]]:
    """(engine, one-line help) for each engine that can answer with these settings.

    The generative engines need a configured model: the one named by QA_LLM, with its
    QA_LLM_MODEL, is offered.
    """
    names = ["extractive", "sentence"]
    if settings.engine in GENERATIVE_ENGINES and settings.llm_model:
        names.append(settings.engine)
    return [(name, ENGINE_HELP[name]) for name in names]
