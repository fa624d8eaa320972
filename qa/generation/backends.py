"""Chat models for the generative engines, built from settings; their failures become QAErrors."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from qa.core.errors import BackendError
from qa.core.settings import Settings
from qa.generation.probe import silence_llama_log

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

GENERATIVE_ENGINES = ("llamacpp", "ollama", "openai")
STOP = ["\nQuestion:", "</document>"]  # a model may echo the prompt's shape
INSTALL_HINT = {
    # llama-cpp-python is built for the CPU (no AMX kernels): scripts/install-llama-cpp
    "llamacpp": "`make llamacpp` in qa's folder (builds llama-cpp-python for this CPU)",
    "ollama": "pip install langchain-ollama",
    "openai": "pip install langchain-openai",
}


def chat_model(settings: Settings) -> BaseChatModel:
    """The chat model of `settings.engine`, imported only when chosen."""
    builders = {"llamacpp": _llamacpp, "ollama": _ollama, "openai": _openai}
    try:
        return builders[settings.engine](settings)
    except ImportError as exc:
        raise BackendError(
            f"the {settings.engine} backend needs: {INSTALL_HINT[settings.engine]}"
        ) from exc


def _llamacpp(settings: Settings) -> BaseChatModel:
    import llama_cpp  # noqa: F401  (an optional extra: missing, chat_model says how to add it)
    from langchain_community.chat_models import ChatLlamaCpp

    from qa.generation.probe import probe

    if not settings.llm_model:  # a base model (e.g. Gemma 3 270M) would invent answers
        raise BackendError(
            "set QA_LLM_MODEL to an instruction-tuned GGUF file for the llamacpp engine"
        )
    path = Path(settings.llm_model)
    if not path.is_file():
        raise BackendError(f"no GGUF file at {path} (set QA_LLM_MODEL to a .gguf file)")
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise BackendError(f"{path} is not a GGUF file (set QA_LLM_MODEL to a .gguf file)")
    if problem := probe(path, settings.model_cache_dir, settings.llm_threads):
        raise BackendError(
            f"{path.name} cannot run here: {problem}; rebuild llama-cpp-python "
            "(`make llamacpp`, scripts/install-llama-cpp) or choose another engine (QA_LLM)"
        )
    silence_llama_log()
    try:
        return ChatLlamaCpp(
            model_path=str(path),
            n_ctx=4096,
            n_threads=settings.llm_threads,
            max_tokens=settings.llm_max_tokens,
            temperature=0.0,  # the same answer to the same question
            verbose=False,
            stop=STOP,
        )
    except ValueError as exc:
        raise BackendError(f"cannot load {path} with llama.cpp (QA_LLM_MODEL): {exc}") from exc


def _ollama(settings: Settings) -> BaseChatModel:
    from langchain_ollama import ChatOllama

    if not settings.llm_model:
        raise BackendError("set QA_LLM_MODEL to the Ollama model to use (e.g. llama3.2)")
    with llm_errors(settings):
        return ChatOllama(
            model=settings.llm_model,
            base_url=settings.llm_base_url or None,
            temperature=0.0,  # the same answer to the same question
            num_predict=settings.llm_max_tokens,
            validate_model_on_init=True,
            stop=STOP,
            client_kwargs={"timeout": settings.llm_timeout},
        )


def _openai(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    if not settings.llm_model:
        raise BackendError("set QA_LLM_MODEL to the model name the server serves")
    # Self-hosted servers (llama.cpp, older vLLM) read `max_tokens`, not the newer
    # `max_completion_tokens` that langchain-openai sends; give them both.
    extra = {"max_tokens": settings.llm_max_tokens} if settings.llm_base_url else None
    model = ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url or None,
        api_key=settings.llm_api_key.get_secret_value() or "not-needed",
        timeout=settings.llm_timeout,
        max_retries=0,
        temperature=0.0,  # the same answer to the same question
        max_tokens=settings.llm_max_tokens,
        stop=STOP,
        extra_body=extra,
    )
    check_openai_model(model, settings)
    return model


def constrained(model: BaseChatModel, engine: str, schema: dict) -> Runnable:
    """The model bound to reply in JSON that follows `schema`, in each backend's own way:
    llama.cpp turns it into a grammar (in process, and llama-cpp-python's server reads
    `{"type": "json_object", "schema": ...}`), Ollama takes it as `format`."""
    if engine == "ollama":
        return model.bind(format=schema)
    response_format = {"type": "json_object", "schema": schema}
    if engine == "openai":  # in the request body, so that langchain-openai streams as usual
        return model.bind(
            extra_body={
                **(getattr(model, "extra_body", None) or {}),
                "response_format": response_format,
            }
        )
    return model.bind(response_format=response_format)


def check_openai_model(model: "ChatOpenAI", settings: Settings) -> None:
    """Fail early, naming QA_LLM_MODEL, when the server lists models and ours is not one."""
    with llm_errors(settings):
        served = [m.id for m in model.root_client.models.list()]
    if served and settings.llm_model not in served:
        raise BackendError(
            f"model '{settings.llm_model}' is not served at {where(settings)}; it serves "
            f"{', '.join(served)} (set QA_LLM_MODEL)"
        )


def where(settings: Settings) -> str:
    """The server a backend talks to, for error messages."""
    return settings.llm_base_url or f"the default {settings.engine} server"


@contextmanager
def llm_errors(settings: Settings) -> Iterator[None]:
    """Turn a backend's connection, timeout and not-found errors into one-line BackendErrors."""
    try:
        yield
    except BackendError:
        raise
    except Exception as exc:  # openai, httpx and ollama each have their own error classes
        raise BackendError(_describe(exc, settings)) from exc


def _describe(exc: Exception, settings: Settings) -> str:
    name = type(exc).__name__
    text = str(exc).splitlines()[0][:200] if str(exc) else name
    if "Timeout" in name or "timed out" in text.lower():
        return (
            f"the {settings.engine} server at {where(settings)} did not answer within "
            f"{settings.llm_timeout:g} s (QA_LLM_TIMEOUT)"
        )
    if "Connect" in name or "connection" in text.lower():
        return (
            f"cannot reach the {settings.engine} server at {where(settings)}"
            " (check QA_LLM_BASE_URL)"
        )
    if "NotFound" in name or "not found" in text.lower():
        return f"model '{settings.llm_model}' not found at {where(settings)} (set QA_LLM_MODEL)"
    if "Authentication" in name or "PermissionDenied" in name:
        return f"the {settings.engine} server at {where(settings)} refused the key (QA_LLM_API_KEY)"
    return f"the {settings.engine} backend failed: {text}"
