"""iSparse experiments on LeNet-5 (dissertation ch. 4: Fig. 4.5/4.6, Table 4.1; docs/methods/isparse.md): the
protocol, the readings, the paper's numbers and the presets (data only; run by
:mod:`keras_attention.experiments.isparse_runs`).

``isparse-lenet`` runs, per seed (seed k sets Keras' global seed, hence the initial weights, and the
shuffling order; every configuration of a seed starts from the same initial weights):

(a) sparsify-with (Fig. 4.5/4.6): the dense LeNet-5 ("Base") is trained, then sparsified once, without
    retraining, at 10 %, 20 %, ..., 90 % by :func:`~keras_attention.sparsity.sparsify` with the strategies
    ``isparse``, ``magnitude`` (Retrain-free) and ``random`` (DropConnect), and the top-1 / top-5 test
    accuracy of each copy is measured -> ``sparsify_with.png`` (accuracy against the sparsification
    factor, mean ± std band over the seeds).
(b) train-with (Table 4.1): LeNet-5 is trained with the :class:`~keras_attention.sparsity.ISparse` callback
    at target sparsities 5, 10, 25 and 50 % for the three strategies, and against two regularisers:
    Dropout at the same rate and L1 -> ``train_with.png`` and the table in ``results.md``.
(c) the cost of one score-and-mask update (``ISparse.update``: scores on the score samples, masks, kernel
    multiply), measured inside the train-with runs, as a fraction of one dense training epoch of the Base
    run of the same seed (median epoch time, the first epoch - which includes tracing - left out when
    there are more).

Readings of points the dissertation leaves open (the documentation, docs/methods/isparse.md, fixes the rest):

- Dropout baseline ("DO": "randomly drops neuron activations", train-with): ``Dropout(rate = target
  sparsity)`` on the input of every Dense layer of LeNet-5 (fc1, fc2 and the logits layer), i.e. on the
  flattened features and on both hidden dense activations; the convolutions are left as they are (the
  usual placement of dropout in LeNet / VGG). Dropout leaves every weight in place, so its achieved weight
  sparsity is 0 %.
- L1 baseline: Table 4.1 has a single "Base w. L1" row with the sparsification it *achieved* in
  parentheses, not one entry per target rate, so L1 is trained once per seed: an ``L1(1e-4)`` kernel
  regulariser on every Conv2D / Dense layer (the strength is not given in the dissertation; 1e-4 per
  weight is a common default). Its achieved sparsity is the fraction of kernel entries with
  ``|w| < 1e-3`` (Adam does not drive L1 weights to exact zeros).
- Train-with schedule: constant target sparsity; masks are recomputed at the start of every epoch from
  epoch 1 on, so the first epoch trains the dense network and the first masks come from trained weights
  (with a single epoch, e.g. ``--quick``, the masks are set at epoch 0). Score samples: ``max_samples``
  (256) training images drawn with the seed.
- Lottery-Ticket ("LT") is not reproduced; its column is not shown.

Accuracies are in %, mean ± sample std over the seeds.
"""

from dataclasses import dataclass

from keras_attention.experiments.registry import Experiment, RunnerRef, Settings, register

SPARSIFY_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TRAIN_LEVELS = (0.05, 0.10, 0.25, 0.50)
QUICK_SPARSIFY_LEVELS = (0.1, 0.5, 0.9)
QUICK_TRAIN_LEVELS = (0.5,)
QUICK_TRAIN, QUICK_TEST = 512, 256
STRATEGY_LABELS = {"isparse": "iSparse (iS)", "magnitude": "Retrain-free (RF)", "random": "DropConnect (DC)"}
TRAIN_METHODS = ("dropout", "random", "magnitude", "isparse")
METHOD_LABELS = {"dropout": "Dropout (DO)", "random": STRATEGY_LABELS["random"],
                 "magnitude": STRATEGY_LABELS["magnitude"], "isparse": STRATEGY_LABELS["isparse"]}  # Table 4.1 order
METHOD_COLORS = {"dropout": "tab:purple", "random": "tab:green", "magnitude": "tab:orange", "isparse": "tab:blue"}
L1_STRENGTH = 1e-4
L1_ZERO_THRESHOLD = 1e-3
MAX_SAMPLES = 256

# Table 4.1, LeNet-5 columns: target -> (DO, DC, RF, LT, iS); "base" / "l1" -> (top-1, achieved sparsity %).
PAPER_TABLE_4_1 = {
    "mnist": {
        "base": (98.79, 0.0), "l1": (98.22, 21.62),
        0.05: (98.09, 98.90, 97.99, 98.03, 98.09), 0.10: (98.07, 98.17, 98.45, 98.82, 98.56),
        0.20: (98.70, 98.79, 98.81, 98.60, 98.98), 0.30: (98.54, 98.78, 98.71, 98.72, 98.98),
        0.40: (98.11, 98.85, 98.97, 98.37, 98.99), 0.50: (97.60, 98.55, 98.85, 98.68, 99.00),
    },
    "fashion_mnist": {
        "base": (88.02, 0.0), "l1": (86.80, 21.84),
        0.05: (88.35, 88.23, 88.70, 87.76, 88.75), 0.10: (88.06, 87.60, 87.02, 87.34, 87.89),
        0.20: (87.00, 88.02, 88.00, 86.89, 88.11), 0.30: (86.51, 88.00, 87.75, 87.37, 88.25),
        0.40: (84.09, 87.81, 87.25, 86.79, 88.30), 0.50: (83.13, 87.76, 88.15, 86.83, 88.46),
    },
}
PAPER_COLUMN = {"dropout": 0, "random": 1, "magnitude": 2, "isparse": 4}


@dataclass(frozen=True)
class ISparseSettings(Settings):
    """The sparsify-with factors and train-with targets (None: :data:`SPARSIFY_LEVELS` / :data:`TRAIN_LEVELS`,
    or the small quick grids with ``--quick``) and the score samples per update."""

    sparsify_levels: tuple[float, ...] | None = None
    train_levels: tuple[float, ...] | None = None
    max_samples: int = MAX_SAMPLES


register(
    Experiment(
        name="isparse-lenet",
        description="iSparse vs magnitude / random (sparsify-with and train-with), Dropout and L1 on LeNet-5.",
        paper_table="Dissertation Fig. 4.6a, Table 4.1",
        run=RunnerRef("keras_attention.experiments.isparse_runs", "run_isparse_lenet"),
        paper=PAPER_TABLE_4_1,
        settings=ISparseSettings(),
        presets={"published": {"dataset": "fashion_mnist", "seeds": 3, "epochs": 5}},  # isparse_fashion_mnist
    )
)

__all__ = ["PAPER_TABLE_4_1", "SPARSIFY_LEVELS", "TRAIN_LEVELS", "ISparseSettings"]
