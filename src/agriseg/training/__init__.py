"""The one training base: shared run options, a ``LightningModule`` with hooks, and the quiet ``fit`` loop.

Both ``crop train`` (with ``crop adapt`` / ``crop selftrain``) and ``fields train`` train through here:
a pipeline subclasses :class:`~agriseg.training.task.BaseTask` (hooks for the model, loss, metrics,
optimiser and schedule, like torchgeo's ``BaseTask``), extends :class:`~agriseg.training.config.TrainOptions`
with its own fields, and calls :func:`~agriseg.training.trainer.fit`. Inference never imports this
package (it needs PyTorch and Lightning).
"""

from agriseg.training.config import TrainOptions

__all__ = ["TrainOptions"]
