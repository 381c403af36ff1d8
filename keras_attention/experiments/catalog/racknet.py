"""RACKNet from the command line and its experiment (dissertation ch. 3: Table 3.2, 3.6, 3.8, Fig. 3.4;
docs/methods/racknet.md): the strategies, the paper's numbers and the presets (data only; the command is
:mod:`keras_attention.cli.racknet`, the experiment runs in :mod:`keras_attention.experiments.racknet_runs`).

``keras-attention racknet analyze --dataset D --out plan.json`` analyses the training images of ``D``
with :func:`keras_attention.racknet.analyze` (tqdm bar over the images), allocates ``--budget`` kernels
the RACKNet way, writes the plan as JSON, prints it as a row of Table 3.2 with the seconds of every
analysis phase, and draws ``<plan stem>_entropy.png`` next to it: per rack (octave), the histogram of
the keypoint entropies with the fitted Gaussian components (Fig. 3.4). ``keras_attention.cli`` declares
the command's arguments; :mod:`keras_attention.cli.racknet` runs it.

The ``racknet`` experiment (``keras-attention reproduce racknet``) analyses the training images once,
allocates a budget of 400 kernels with each of the six strategies of §3.5.2 and trains the CNN of each
allocation for several seeds: Table 3.6 (mean ± sample std of the top-1 test accuracy over the seeds)
and Table 3.8 (seconds of the four analysis phases and of training).

Readings of points the dissertation and the documentation (docs/methods/racknet.md) leave open:

* validation (§3.5.1, "10% of the training data was reserved for validation"): a fixed random 10 % of
  the training split (``numpy.random.default_rng(0)``, the same for every strategy and seed) is the
  validation set; the analysis sees the other 90 %, the images the networks are trained on; accuracy is
  measured on the test split;
* one analysis per data set (``analyze``'s ``seed=0``): the racks, layers and cluster counts do not
  depend on the training seed. Seed ``k`` sets Keras' global seed (initial weights, shuffling) and the
  seed of :func:`~keras_attention.racknet.allocate`, so only the ``random`` strategy's allocation
  changes with the seed;
* training: the dissertation's "RMSE as the model optimizer" names no optimizer; Adam (learning rate
  1e-3) with cross-entropy, batch 128, 10 epochs, as in the package's other experiments, average
  pooling and dropout 0.25 (§3.5.1 defaults); no augmentation;
* SIFT on images smaller than 28 px finds almost nothing, so they are enlarged by
  ``ceil(32 / min(H, W))`` before detection (4 for the 8x8 digits; :func:`default_upscale`);
* Table 3.8's "Training" row is the mean, over seeds, of the training seconds (sum of the epoch times)
  of the RACKNet-allocated network; every strategy's mean is in the Table 3.6 rows;
* Fig. 3.4: ``RackPlan`` keeps the mixture, not the per-keypoint entropies, so the histogram is of the
  keypoints of the first :data:`HISTOGRAM_IMAGES` analysed images, detected again with the plan's SIFT
  settings (all of them, hence exactly the analysed keypoints, when there are no more images than
  that); the components are drawn as ``weight * N(mean, std)`` densities;
* the dissertation has no Fashion-MNIST or digits numbers; its MNIST / SVHN / CIFAR numbers of Tables
  3.6 and 3.8 are printed next to ours when the experiment runs on one of those data sets.
"""

from dataclasses import dataclass, field

from keras_attention.experiments.registry import Experiment, RunnerRef, Settings, register
from keras_attention.racknet.allocation import DEFAULT_BUDGET

VALIDATION_FRACTION = 0.1
QUICK_TRAIN, QUICK_TEST = 512, 256

# Table 3.6 order: strategy -> (label, observations it keeps).
STRATEGY_ROWS = {
    "random": ("Random", "o1, o2"),
    "uniform_rack": ("Uniform Rack", "o1, o2"),
    "uniform_layer": ("Uniform Layer", "o1, o2"),
    "c_proportional": ("C-Proportional", "o1, o2, o3"),
    "inverse_order": ("Inverse Order", "o1, o2, o4"),
    "racknet": ("RACKNet", "o1, o2, o3, o4"),
}
# Table 3.6 (top-1 %) and Table 3.8 (seconds), for the data sets of this package that the dissertation used.
PAPER_TABLE_3_6 = {
    "mnist": {"random": 98.98, "uniform_rack": 98.97, "uniform_layer": 98.97, "c_proportional": 98.90,
              "inverse_order": 98.99, "racknet": 99.25},
    "svhn_cropped": {"random": 90.34, "uniform_rack": 90.90, "uniform_layer": 91.04, "c_proportional": 90.77,
                     "inverse_order": 91.11, "racknet": 94.57},
    "cifar10": {"random": 69.69, "uniform_rack": 70.18, "uniform_layer": 69.50, "c_proportional": 68.50,
                "inverse_order": 69.88, "racknet": 71.65},
}
PAPER_TABLE_3_8 = {
    "mnist": {"features": 340.34, "entropy": 81.04, "mixture": 1.79, "clustering": 75.76, "training": 929.33},
    "svhn_cropped": {"features": 449.35, "entropy": 119.47, "mixture": 1.71, "clustering": 97.45,
                     "training": 1396.79},
    "cifar10": {"features": 302.10, "entropy": 60.41, "mixture": 2.17, "clustering": 62.13, "training": 1189.61},
}
PHASE_LABELS = {"features": "Feature", "entropy": "Entropy Histogram", "mixture": "Mixture Separation",
                "clustering": "Clustering", "training": "Training"}


@dataclass(frozen=True)
class RacknetSettings(Settings):
    """``budget``: the kernels every strategy allocates; ``paper_timings``: Table 3.8 per data set."""

    budget: int = DEFAULT_BUDGET
    paper_timings: dict[str, dict[str, float]] = field(default_factory=dict)


register(
    Experiment(
        name="racknet",
        description="RACKNet vs five kernel allocation strategies (budget 400) and the cost of each phase.",
        paper_table="Dissertation Tables 3.6, 3.8",
        run=RunnerRef("keras_attention.experiments.racknet_runs", "run_racknet_experiment"),
        paper=PAPER_TABLE_3_6,
        quick_seeds=2,
        settings=RacknetSettings(budget=DEFAULT_BUDGET, paper_timings=PAPER_TABLE_3_8),
        presets={  # racknet_fashion_mnist, racknet_digits
            "published": {"dataset": "fashion_mnist", "seeds": 3, "epochs": 5, "batch_size": 64, "train_limit": 6000},
            "published-digits": {"dataset": "digits", "seeds": 3, "epochs": 10, "batch_size": 32},
        },
    )
)

__all__ = ["PAPER_TABLE_3_6", "PAPER_TABLE_3_8", "STRATEGY_ROWS", "RacknetSettings"]
