"""``scratchnet evaluate RUN``: a trained model's test loss, accuracy and classification report."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..data import DatasetNotFoundError
from ..train import evaluate, format_report
from .predict import add_normalize_argument
from .usage import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="test loss, accuracy and the per-class report of a trained model",
        description="Score a run's model on a test set and print the test loss, accuracy and the classification "
                    "report (precision, recall, F1, support per class; scikit-learn's numbers). On the run's own "
                    "test set this also rewrites the test entries of metrics.json and test_predictions.npz.",
    )
    parser.add_argument("run", metavar="RUN", type=Path, help="a run directory, a model file (model.npz) or an exported model.onnx")
    parser.add_argument("--dataset", help="the dataset to test on (default: the one the model was trained on; "
                        "required for an ONNX file without scratchnet metadata, e.g. from torch.onnx.export, whose "
                        "classes are this dataset's)")
    add_normalize_argument(parser)
    parser.add_argument("--root", metavar="DIR", help="a folder holding the dataset's files")
    parser.add_argument("--test-subset", type=int, metavar="N", help="score N images of the test set")
    parser.add_argument("--digits", type=int, default=4, help="decimals in the report (default 4)")
    parser.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    if not 0 <= args.digits <= 10:
        raise UsageError(f"--digits must be between 0 and 10, got {args.digits}")
    if args.test_subset is not None and args.test_subset < 1:
        raise UsageError(f"--test-subset must be at least 1, got {args.test_subset}")
    try:
        result = evaluate(args.run, dataset=args.dataset, root=args.root, test_subset=args.test_subset,
                          normalize=args.normalize)
    except (ValueError, DatasetNotFoundError) as err:
        raise UsageError(str(err)) from None
    metrics = result.scores.metrics
    if "preprocessing_assumed" in result.model.extra:
        print(f"{args.run} has no scratchnet metadata: classes of {result.model.dataset}, inputs "
              f"{result.model.input_shape}, preprocessing assumed {result.model.extra['preprocessing_assumed']}")
    print(f"{result.model.dataset} model on {result.dataset} test set ({len(result.scores.y_pred):,} images): "
          f"test loss {metrics['test_loss']:.4f}  test accuracy {metrics['test_accuracy']:.2%}")
    if result.dataset_note:
        print(f"note: {result.dataset_note}")
    print()
    print(format_report(metrics, digits=args.digits), end="")
    if result.wrote_run_files:
        print(f"\nupdated {args.run / 'metrics.json'} and {args.run / 'test_predictions.npz'}")
    return 0
