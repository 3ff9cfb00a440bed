"""Hugging Face Space entry point: the portrait-edge demo (portrait_edge.space)."""

from portrait_edge.space import CONCURRENCY, build_app

demo = build_app()
demo.queue(default_concurrency_limit=CONCURRENCY, max_size=32)

if __name__ == "__main__":
    demo.launch(server_name="0.0.0.0", show_error=True, max_file_size="25mb")
