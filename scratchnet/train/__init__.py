"""Training, evaluation and model files: the public API under ``scratchnet train`` and ``evaluate``.

    from scratchnet.train import TrainConfig, fit, resume, evaluate, load_model
    result = fit(TrainConfig(dataset="fashion-mnist", model="cnn3-512-0.1", epochs=13, out="runs/cnn3"))
    result.metrics["test_accuracy"]
    model = load_model("runs/cnn3/model.npz")
    probabilities = model.predict_proba(uint8_images)   # (N, classes)

``fit`` and ``resume`` raise ``ConfigError`` (a ValueError) for settings that cannot work,
before training starts, and ``NonFiniteLossError`` when training diverges.
"""
from ..spec import LAYER_TYPES, build_model, load_spec
from .config import ConfigError, TrainConfig
from .evaluation import Evaluation, evaluate
from .metrics import accuracy, classification_report, confusion_matrix, format_report
from .modelfile import LoadedModel, load_model, save_model
from .runs import fit_or_resume
from .trainer import NonFiniteLossError, RunResult, fit, resume

__all__ = ["LAYER_TYPES", "ConfigError", "Evaluation", "LoadedModel", "NonFiniteLossError", "RunResult",
           "TrainConfig", "accuracy", "build_model", "classification_report", "confusion_matrix", "evaluate",
           "fit", "fit_or_resume", "format_report", "load_model", "load_spec", "resume", "save_model"]
