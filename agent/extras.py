"""Which optional extra provides a module that a command needs and this install lacks.

The runtime install (`pipx install festina`) has none of them; training, the evaluations
and the optional back ends import theirs when used, and a command that reaches one
without it ends with this message instead of a traceback."""

from __future__ import annotations

# module -> (the package that installs it, the extra that has the package)
EXTRA_OF = {
    "sklearn": ("scikit-learn", "model"),
    "scipy": ("scipy", "model"),
    "onnx": ("onnx", "model"),
    "skl2onnx": ("skl2onnx", "model"),
    "safetensors": ("safetensors", "model"),
    "torch": ("torch", "train"),
    "transformers": ("transformers", "train"),
    "matplotlib": ("matplotlib", "train"),
    "psycopg": ("psycopg", "postgres"),
    "llama_cpp": ("llama-cpp-python", "local-llm"),
}


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The words for a missing module that an extra provides; None for any other."""
    module = (error.name or "").partition(".")[0]
    if module not in EXTRA_OF:
        return None
    package, extra = EXTRA_OF[module]
    return (
        f"this needs {package}, which is not installed: install festina's `{extra}` extra, "
        f"e.g. pip install 'festina[{extra}]' (pipx: pipx install --force 'festina[{extra}]'; "
        f"from a checkout: pip install -c constraints.txt -e '.[{extra}]')"
    )
