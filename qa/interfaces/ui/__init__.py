"""The Gradio chat UI: a thin face over the service, split by tab."""

from qa.interfaces.ui.app import build_ui, serve

__all__ = ["build_ui", "serve"]
