"""The engine registry and the optional llamacpp backend (unit tier: no model is loaded)."""

import sys

import pytest

from qa.core.errors import BackendError
from qa.core.settings import Settings
from qa.engines import ENGINES, offered_engines
from qa.generation.backends import GENERATIVE_ENGINES, chat_model


def test_a_missing_llamacpp_backend_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if never installed
    with pytest.raises(BackendError) as caught:
        chat_model(Settings(engine="llamacpp", llm_model="model.gguf"))
    assert str(caught.value) == (
        "the llamacpp backend needs: `make llamacpp` in qa's folder "
        "(builds llama-cpp-python for this CPU)"
    )


def test_only_configured_generative_engines_are_offered() -> None:
    assert ENGINES == ("extractive", "sentence", *GENERATIVE_ENGINES)
    assert [name for name, _ in offered_engines(Settings())] == ["extractive", "sentence"]
    chosen = Settings(engine="ollama", llm_model="llama3.2")
    assert [name for name, _ in offered_engines(chosen)] == ["extractive", "sentence", "ollama"]
    unnamed = Settings(engine="ollama", llm_model="")
    assert [name for name, _ in offered_engines(unnamed)] == ["extractive", "sentence"]
