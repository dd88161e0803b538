"""``scratchnet serve RUN``: a local page to draw a digit (or drop a photo) and see the prediction."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .usage import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="open a drawing page: draw a digit (or drop a photo), see what the model predicts",
        description="Start a local web server with a page where you draw a digit with the mouse or a "
        "finger, or drop a photo, and watch the model's prediction, every class's probability and the "
        "28x28 image it received. A model of other 28x28 pictures (e.g. Fashion-MNIST) gets a page for "
        "its own classes. Works offline. Stop it with Ctrl+C.",
    )
    parser.add_argument("run", metavar="RUN", type=Path,
                        help="a training run folder or model file with 1x28x28 inputs (e.g. runs/digits)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..serve import DigitServer  # imported here: the CLI imports every command to build --help
    from ..serve.app import binding_warning
    from ..train.modelfile import load_model

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0-65535)")
    try:
        loaded = load_model(args.run)
        server = DigitServer((args.host, args.port), loaded, model_name=args.run.name)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    except OSError as err:  # e.g. the port is taken
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}; try another --port") from None
    warning = binding_warning(args.host, server.server_address[1])
    if warning:
        print(warning, file=sys.stderr, flush=True)
    kind = "Drawing" if server.info()["handwriting"] else "Picture"
    print(f"{kind} page for {args.run.name}: {server.url}  ({loaded.dataset} model; Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped", flush=True)
    finally:
        server.server_close()
    return 0
