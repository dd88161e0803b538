"""``torch.nn.utils``'s gradient clipping: call between ``model.backward`` and ``optimizer.step``."""
from .clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
