"""Generative engines: chat-model backends, the llama.cpp crash probe, and grounded
prompting (the model cites numbered sentences; qa quotes them)."""
