"""The bundled models, offline: one ONNX export and cache path, the embedder, and the span
reader's runtime."""
