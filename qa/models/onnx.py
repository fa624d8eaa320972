"""ONNX copies of the bundled models: exported once (torch.onnx, then onnxruntime's dynamic
int8 quantisation where that copy agrees with the original), cached per model version in
`QA_MODEL_CACHE_DIR`, and rebuilt when damaged. The embedder and the span reader use it."""

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from qa.core.errors import BackendError

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
Loaded = TypeVar("Loaded")


def export_quantised(
    module,
    outputs: list[str],
    target: Path,
    agrees: Callable[[Path], bool],
    quantise: bool = True,
) -> bool:
    """Write `module` (a torch module over INPUTS) to `target`: int8 if `quantise` and that
    copy `agrees` with the original, else in full precision. True if the copy kept agrees."""
    import logging
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    module.eval()  # export restores the mode it found: a new wrapper would be left training
    example = torch.ones(2, 8, dtype=torch.long)
    full = target.with_name("full.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example, example, torch.zeros_like(example)),
            str(full),
            input_names=INPUTS,
            output_names=outputs,
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*INPUTS, *outputs]},
            opset_version=17,
            dynamo=False,
        )
    if not quantise:
        os.replace(full, target)
        return agrees(target)
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # the quantiser warns through the root logger
    try:
        quantize_dynamic(full, target, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    if agrees(target):
        full.unlink(missing_ok=True)
        return True
    os.replace(full, target)  # this model does not quantise well: keep full precision
    return agrees(target)


def cached_onnx(
    cache: Path, export: Callable[[Path], None], load: Callable[[Path], Loaded], what: str
) -> Loaded:
    """`load(cache/model.onnx)`, exporting it first (once, even with several processes
    starting) if it is missing or damaged (e.g. truncated by a full disk)."""
    from filelock import FileLock

    onnx_file = cache / "model.onnx"
    if onnx_file.is_file():
        try:
            return load(onnx_file)
        except Exception:  # a damaged copy: build it again
            try:
                onnx_file.unlink(missing_ok=True)
            except OSError as exc:
                raise BackendError(
                    f"the copy of {what} in {cache} is damaged and cannot be replaced "
                    f"({(exc.strerror or str(exc)).lower()}): make QA_MODEL_CACHE_DIR writable, "
                    f"or delete {onnx_file}"
                ) from None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with FileLock(cache / ".lock"):
            if not onnx_file.is_file():
                if sys.stderr.isatty():
                    print(f"qa: preparing {what} in {cache} (once)", file=sys.stderr)
                export(cache / "partial.onnx")
                os.replace(cache / "partial.onnx", onnx_file)
    except (OSError, RuntimeError, ValueError) as exc:
        raise BackendError(f"cannot prepare {what} in {cache} (QA_MODEL_CACHE_DIR): {exc}") from exc
    return load(onnx_file)
