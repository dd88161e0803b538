"""``scratchnet train``: train a model and write a run directory; ``train --resume RUN`` continues one."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data import DatasetNotFoundError, registry
from ..data.augment import AUGMENTATIONS
from ..train import ConfigError, NonFiniteLossError, TrainConfig, fit, flags, resume
from ..train.budget import parse_duration
from ..train.config import NORMALIZATIONS
from ..train.losses import LOSS_CHOICES, LOSSES
from ..train.optimizers import OPTIMIZERS
from ..train.schedules import SCHEDULE_CHOICES, SCHEDULES
from .models import model_error
from .usage import UsageError

DEFAULTS = TrainConfig()
NOT_SETTINGS = ("command", "func", "resume", "quiet", "report")  # the flags that are no TrainConfig field


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model; write its run directory (metrics, model file, report)",
        description="Train a zoo model (`scratchnet models`) or a JSON/TOML model file on a dataset, keep the "
                    "weights of the epoch with the lowest validation loss, evaluate them on the test set and write "
                    "a run directory: config.json, history.csv, metrics.json, model.npz, checkpoint.npz and "
                    "report.html. Ctrl-C keeps the last finished epoch: continue with --resume RUN.",
    )
    add = _adder(parser)
    data = parser.add_argument_group("data")
    add(data, "--dataset", help="dataset name (see `scratchnet datasets`)")
    add(data, "--root", metavar="DIR", help="a folder holding the dataset's files (default: the usual places)")
    add(data, "--val-size", type=_count_or_fraction, metavar="N|F",
        help="validation images held out of the training set: a count or a fraction in (0, 1)")
    add(data, "--split-seed", type=int, metavar="SEED", help="seed of the validation split and subsets")
    data.add_argument("--stratify", action="store_true", default=argparse.SUPPRESS,
                      help="split validation per class, in proportion")
    add(data, "--normalize", choices=NORMALIZATIONS,
        help="pixel preprocessing (zscore: statistics of the train split)")
    add(data, "--augment", metavar="A+B", help="none, or augmentations joined by +: "
        + _choices_help(AUGMENTATIONS))
    add(data, "--crop-padding", type=int, metavar="PX", help="largest shift of --augment crop, in pixels")
    add(data, "--affine-degrees", type=float, metavar="DEG", help="--augment affine: largest rotation")
    add(data, "--affine-translate", type=float, metavar="F", help="--augment affine: largest shift, a fraction of the size")
    add(data, "--affine-scale", type=float, metavar="F", help="--augment affine: largest zoom in or out, e.g. 0.1")
    add(data, "--affine-shear", type=float, metavar="DEG", help="--augment affine: largest shear")
    add(data, "--erase-prob", type=float, metavar="P", help="--augment erase: probability per image")
    add(data, "--blur-prob", type=float, metavar="P", help="--augment blur: probability per image")
    add(data, "--blur-sigma", type=float, metavar="PX", help="--augment blur: widest Gaussian (its sigma, in pixels)")
    add(data, "--mix-alpha", type=float, metavar="ALPHA", help="--augment mixup/cutmix: Beta(alpha, alpha) of the mix")
    add(data, "--train-subset", type=int, metavar="N", help="train on N images of the training set (quick runs)")
    add(data, "--test-subset", type=int, metavar="N", help="test on N images of the test set (quick runs)")

    model = parser.add_argument_group("model and loss")
    model.add_argument("--recipe", metavar="NAME", default=argparse.SUPPRESS,
                       help="start from a named recipe's settings (`scratchnet recipes`); other flags override them")
    add(model, "--model", metavar="NAME|FILE", help="a zoo name (`scratchnet models`) or a .json/.toml layer spec")
    add(model, "--loss", choices=LOSS_CHOICES, help=_choices_help(LOSSES, "auto: mse for sigmoid outputs, else ce"))
    add(model, "--init-from", metavar="FILE", help="start from the weights in a .safetensors/.onnx/.npz file "
        "(e.g. trained in PyTorch; --model must be their architecture)")
    model.add_argument("--new-head", action="store_true", default=argparse.SUPPRESS,
                       help="with --init-from: start the last layer afresh when its shape differs (other classes)")
    model.add_argument("--class-weight", dest=flags.field("--class-weight"), action="append", type=_class_weight,
                       metavar="NAME=W", default=argparse.SUPPRESS,
                       help="weight of a class in the cross-entropy, by name (repeatable), "
                            "e.g. --class-weight Sandal=2")
    add(model, "--label-smoothing", type=float, metavar="EPS", help="cross-entropy label smoothing")

    opt = parser.add_argument_group("optimisation")
    add(opt, "--optimizer", choices=list(OPTIMIZERS), help=_choices_help(OPTIMIZERS))
    add(opt, "--lr", type=float, help="learning rate")
    add(opt, "--momentum", type=float, help=f"momentum ({_users(OPTIMIZERS, 'momentum')})")
    add(opt, "--weight-decay", type=float, help="L2 penalty (decoupled for adamw)")
    opt.add_argument("--skip-decay-norm-bias", action="store_true", default=argparse.SUPPRESS,
                     help="no weight decay on biases and normalisation layers (every 1-D parameter)")
    add(opt, "--clip-grad-norm", type=float, metavar="MAX", help="rescale gradients whose global L2 norm exceeds MAX")
    add(opt, "--betas", type=float, nargs=2, metavar=("B1", "B2"), help=f"the moment decay rates ({_users(OPTIMIZERS, 'betas')})")
    add(opt, "--schedule", choices=SCHEDULE_CHOICES, help=_choices_help(SCHEDULES, "none: a constant rate"))
    add(opt, "--step-size", type=int, metavar="EPOCHS", help="--schedule step: epochs between decays")
    add(opt, "--gamma", type=float, help="--schedule step, plateau: the factor the rate is multiplied by")
    add(opt, "--min-lr", type=float, help="--schedule cosine, warmup-cosine: the final learning rate; plateau: the floor")
    add(opt, "--warmup-epochs", type=int, metavar="EPOCHS", help="--schedule warmup-cosine: epochs of linear warm-up")
    add(opt, "--pct-start", type=float, metavar="F", help="--schedule onecycle: the share of steps spent rising")
    add(opt, "--plateau-patience", type=int, metavar="EPOCHS",
        help="--schedule plateau: epochs without a better validation loss before the rate drops")
    add(opt, "--ema-decay", type=float, metavar="D", help="validate, test and save a moving average of the weights "
        "with this decay per step, e.g. 0.999 (default: off)")
    opt.add_argument("--tta", action="store_true", default=argparse.SUPPRESS,
                     help="test-time augmentation: score the test set on each image and its mirror image")
    add(opt, "--epochs", type=int, help="passes over the training set (with --resume: the new total)")
    add(opt, "--batch-size", type=_batch_size, metavar="N|full", help="images per step; full: full-batch descent")
    add(opt, "--early-stopping", type=int, metavar="PATIENCE",
        help="stop after PATIENCE epochs without a better validation loss (default: never)")
    opt.add_argument("--no-restore-best", dest="restore_best", action="store_false", default=argparse.SUPPRESS,
                     help="keep the last epoch's weights instead of the best epoch's")

    run = parser.add_argument_group("run")
    add(run, "--seed", type=int, help="seed of initialisation, shuffling, dropout and augmentation")
    add(run, "--threads", type=int, metavar="N", help="BLAS threads (default: all cores)")
    add(run, "--out", metavar="DIR", help="run directory (default: runs/<dataset>-<model>-<time>)")
    add(run, "--time-budget", type=_duration, metavar="TIME", help="train as many epochs as fit in TIME "
        "(30m, 1h30m, 90s), measured on the first epoch; the schedule is laid out over them (default: off)")
    run.add_argument("--resume", metavar="RUN", default=None, help="continue the run in RUN from its checkpoint")
    run.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    run.add_argument("--no-report", dest="report", action="store_false",
                     help="skip the figures and report.html (`scratchnet report RUN` makes them later)")
    parser.set_defaults(func=run_train)


def _adder(parser: argparse.ArgumentParser):
    """add(group, flag, help, ...): a flag left out of the namespace unless given; its help shows
    TrainConfig's default."""
    def add(group, flag: str, help: str, **kwargs) -> None:
        dest = flags.field(flag)
        default = getattr(DEFAULTS, dest)
        if default is not None:  # None defaults are explained in the help text itself
            help += f" (default: {' '.join(map(str, default)) if isinstance(default, tuple) else default})"
        group.add_argument(flag, dest=dest, default=argparse.SUPPRESS, help=help, **kwargs)
    return add


def _choices_help(registry: dict, *extra: str) -> str:
    """--help text listing a registry's entries: "name: what it does; ..." (argparse escapes no %)."""
    return "; ".join([*(f"{name}: {entry.help}" for name, entry in registry.items()), *extra]).replace("%", "%%")


def _users(registry: dict, setting: str) -> str:
    """The names of a registry's entries that read TrainConfig field ``setting``, e.g. "sgd, rmsprop"."""
    return ", ".join(name for name, entry in registry.items() if setting in entry.settings)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _count_or_fraction(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a count or a fraction such as 0.1, got {text!r}") from None


def _batch_size(text: str) -> int | str:
    if text == "full":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'full', got {text!r}") from None


def _class_weight(text: str) -> tuple[str, float]:
    try:
        return flags.class_weight(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _report_writer(args: argparse.Namespace):
    """write_report unless --no-report (imported here: matplotlib is slow to import)."""
    if not args.report:
        return None
    from ..report import write_report

    return write_report


def run_train(args: argparse.Namespace) -> int:
    settings = {key: value for key, value in vars(args).items() if key not in NOT_SETTINGS}
    if "class_weights" in settings:
        settings["class_weights"] = dict(settings["class_weights"])
    if "betas" in settings:
        settings["betas"] = tuple(settings["betas"])
    try:
        if args.resume:
            extra = sorted(set(settings) - {"epochs"})
            if extra:
                raise UsageError(f"--resume continues a run with its own settings (its config.json); only --epochs "
                                 f"may be given with it, not {', '.join(map(flags.flag, extra))}")
            result = resume(args.resume, epochs=settings.get("epochs"), quiet=args.quiet,
                            report=_report_writer(args))
        else:
            if "dataset" in settings:
                settings["dataset"] = _dataset_name(settings["dataset"])
            recipe = settings.pop("recipe", None)
            config = TrainConfig.from_recipe(recipe, **settings) if recipe else TrainConfig(**settings)
            result = fit(config, quiet=args.quiet, report=_report_writer(args))
    except ConfigError as err:
        if isinstance(err.__context__, DatasetNotFoundError):  # not a bad argument: the data is not here
            print(f"scratchnet train: {err}", file=sys.stderr)
            return 1
        message = flags.flagged(str(err))
        if str(settings.get("model")) in message:
            message = model_error(settings["model"], message)
        raise UsageError(message) from None
    except KeyboardInterrupt:
        return 130  # the trainer has said where the checkpoint is and how to resume
    except NonFiniteLossError as err:
        print(f"scratchnet train: {err}", file=sys.stderr)
        return 1
    link_latest(result.run_dir)
    return 0


def _dataset_name(typed: str) -> str:
    """The registry's spelling of ``--dataset`` (any case), or a usage error with "did you mean"."""
    try:
        return registry.canonical(typed)
    except ValueError as err:
        raise UsageError(str(err)) from None


def link_latest(run_dir: Path) -> None:
    """Point ``runs/latest`` at ``run_dir`` when it is a folder of ``runs/`` (the default place), so
    ``scratchnet report runs/latest`` and the like need no name. Where links cannot be made, nothing."""
    run_dir = Path(run_dir)
    if run_dir.parent.name != "runs" or run_dir.name == "latest":
        return
    latest = run_dir.parent / "latest"
    try:
        if latest.is_symlink() or not latest.exists():
            temporary = run_dir.parent / ".latest.tmp"
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(run_dir.name, target_is_directory=True)
            temporary.replace(latest)  # atomic: a reader never finds runs/latest missing
    except OSError:
        pass
