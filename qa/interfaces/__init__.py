"""The faces: the `qa` command and the Gradio UI, thin over the service and the library."""
