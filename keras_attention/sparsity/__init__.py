"""iSparse: output-informed sparsification (dissertation ch. 4; docs/methods/isparse.md).

- :func:`inffs` - InfFS scores of the output neurons (Alg. 1);
- :func:`edge_scores` - edge significance ``E_l`` by channel-level propagation (eq. 4.6-4.11);
- :func:`masks`, :func:`sparsify`, :func:`sparsity_report` - masks (eq. 4.5) and one-shot sparsify-with
  (eq. 4.12), strategies ``isparse`` / ``magnitude`` / ``random``;
- :class:`ISparse` - train-with callback (eq. 4.13);
- :class:`MaskConstraint`, :func:`carried_masks`, :func:`strip_masks` - the masks a model carries through
  ``get_config`` / save / load (a trained or sparsified model keeps them; a resumed ``ISparse`` starts from
  them). Importing this package registers ``MaskConstraint`` for ``keras.saving.load_model``.
"""

from keras_attention.sparsity.callback import ISparse
from keras_attention.sparsity.inffs import inffs, inffs_graph
from keras_attention.sparsity.mask_constraint import MaskConstraint, carried_masks, strip_masks
from keras_attention.sparsity.masking import (
    STRATEGIES,
    format_sparsity_report,
    kept_count,
    masks,
    sparsify,
    sparsity_report,
)
from keras_attention.sparsity.propagation import ATTENTION_SCORE_INPUT, ScorePlan, edge_scores

__all__ = [
    "ATTENTION_SCORE_INPUT",
    "ISparse",
    "MaskConstraint",
    "STRATEGIES",
    "ScorePlan",
    "carried_masks",
    "edge_scores",
    "format_sparsity_report",
    "inffs",
    "inffs_graph",
    "kept_count",
    "masks",
    "sparsify",
    "sparsity_report",
    "strip_masks",
]
