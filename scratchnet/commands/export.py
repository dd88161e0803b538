"""``scratchnet export RUN --format onnx|safetensors``: a trained model in an open format for other tools."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .usage import UsageError
from ..interop import MissingExtraError, onnx_export, safetensors_io
from ..train.modelfile import load_model

SUFFIXES = {"onnx": ".onnx", "safetensors": ".safetensors"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a trained model as ONNX or safetensors",
        description="Export a run's model. onnx: the network as an ONNX graph (opset "
                    f"{onnx_export.OPSET}, dynamic batch size, weights named by their state_dict keys) for "
                    "onnxruntime, model viewers such as Netron, and `scratchnet evaluate/predict`; it takes "
                    "preprocessed float32 input (the preprocessing is not folded in: the metadata entry "
                    "'preprocessing' says what to apply, 'classes' lists the class names). safetensors: the "
                    "state_dict under PyTorch's keys, for torch.nn (safetensors.torch.load_file) and "
                    "`scratchnet train --init-from`; its metadata holds the spec and class names. "
                    "Needs pip install 'scratchnet[onnx]' or 'scratchnet[safetensors]'.",
    )
    parser.add_argument("run", metavar="RUN", type=Path, help="a run directory or a model file (model.npz)")
    parser.add_argument("--format", choices=sorted(SUFFIXES), default="onnx", help="the file format (default onnx)")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="the file to write (default: model.onnx / model.safetensors beside the model file)")
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    try:
        loaded = load_model(args.run)
    except ValueError as err:
        raise UsageError(str(err)) from None
    source = args.run / "model.npz" if args.run.is_dir() else args.run
    out = args.out or source.with_suffix(SUFFIXES[args.format])
    if out.resolve() == source.resolve():
        raise UsageError(f"exporting {source} to itself would overwrite it; give another file with --out")
    meta = loaded.metadata()
    try:
        if args.format == "onnx":
            _export_onnx(loaded, meta, out)
        else:
            safetensors_io.save(out, loaded.model.state_dict(), {"scratchnet_model": meta, "classes": meta["classes"]})
            print(f"wrote {out} ({out.stat().st_size:,} bytes): {len(loaded.model.state_dict())} tensors under "
                  "PyTorch's state_dict keys; metadata: scratchnet_model (spec, preprocessing), classes")
    except MissingExtraError as err:
        print(f"scratchnet export: {err}", file=sys.stderr)
        return 1
    return 0


def _export_onnx(loaded, meta: dict, out: Path) -> None:
    proto = onnx_export.export(loaded.model, loaded.input_shape, out, metadata=onnx_export.metadata_for(meta))
    shape = ", ".join(map(str, loaded.input_shape))
    print(f"wrote {out} ({out.stat().st_size:,} bytes): ONNX opset {onnx_export.OPSET}, input 'input' "
          f"(batch, {shape}) float32, output 'output' (batch, {len(loaded.classes)})")
    print(f"preprocessing {onnx_export.describe_preprocess(meta['preprocess'])}")
    try:
        difference = onnx_export.onnxruntime_difference(proto, loaded.model, loaded.input_shape)
    except MissingExtraError:
        print("not checked with onnxruntime (pip install 'scratchnet[onnx]' to check)")
        return
    print(f"checked: onnxruntime's outputs differ from scratchnet's by at most {difference:.1e}")
