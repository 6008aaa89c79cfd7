"""Segformer on portraits: the data, the trained baseline and the helpers assignment A1 builds on.

One module per seam; every name below is importable from ``effnn.segformer`` as before the split:

- data (``_data``): :func:`portrait_tensors` / :func:`portraits` / :func:`as_float`, the
  portrait-segmentation data (8-bit, cached);
- baseline (``_baseline``): :data:`BASELINE` / :class:`BaselineRecipe` / :func:`load_baseline` /
  :func:`baseline_record`: a narrow MiT-b0-like Segformer trained from scratch by the course's own
  code; the checkpoint and its recipe are committed (loading a checkpoint lives here too);
- inference (``_inference``): :func:`predict_logits`, :func:`upsample`, :func:`teacher_logits`,
  :func:`deploy_input`;
- structure (``_structure``): :func:`attentions` / :func:`head_counts`, the attention layers.

What A1 asks the student to write (the metric, the prunable patch, the pruner, the importance
scores, fine-tuning, saving a pruned model, the sweep) is deliberately not here: it lives in the
instructors' ``autograder.reference.segformer``. Nothing here changes a model in place except
loading weights into a model this package builds.
"""
from __future__ import annotations

from ._baseline import (ASSETS, BASELINE, BASELINE_CHECKPOINT, BASELINE_META, BaselineRecipe, baseline_config,
                        baseline_path, baseline_record, load_baseline, new_baseline)
from ._data import as_float, portrait_tensors, portraits
from ._inference import DEPLOY_SIZE, DEPLOY_THREADS, deploy_input, logits_of, predict_logits, teacher_logits, upsample
from ._structure import _segformer_classes, attentions, head_counts

__all__ = ["ASSETS", "BASELINE", "BASELINE_CHECKPOINT", "BASELINE_META", "BaselineRecipe", "DEPLOY_SIZE",
           "DEPLOY_THREADS", "as_float", "attentions", "baseline_config", "baseline_path", "baseline_record",
           "deploy_input", "head_counts", "load_baseline", "logits_of", "new_baseline", "portrait_tensors",
           "portraits", "predict_logits", "teacher_logits", "upsample"]
