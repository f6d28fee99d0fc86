"""Sample-quality metrics as pure functions on feature, probability or point arrays.

Inputs may be numpy arrays or torch tensors; results are Python floats (or tuples
/ dicts of them). Feature extraction lives elsewhere; nothing here loads a model.
"""

from ganforge.metrics.accuracy import class_accuracy
from ganforge.metrics.codes import code_accuracy, code_confusion
from ganforge.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kernel_inception_distance
from ganforge.metrics.mixtures import mixture_quality
from ganforge.metrics.precision_recall import precision_recall

__all__ = [
    "class_accuracy",
    "code_accuracy",
    "code_confusion",
    "feature_statistics",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "kernel_inception_distance",
    "mixture_quality",
    "precision_recall",
]
