"""XM2A time-series experiments (data only; run by :mod:`keras_attention.experiments.xm2a_runs`): ``xm2a``
(Table 7.3 analog), ``xm2a-variants`` (Fig. 7.4), ``xm2a-ablation`` (Table 7.4 analog).

The dissertation's data sets (SADD, AUSLAN, MOCAP; Table 7.2) are not bundled offline, so the analogs run on
the UEA/UCR sets aeon ships (:func:`keras_attention.data.load_timeseries`): the multi-variate JapaneseVowels
and BasicMotions and the harder uni-variate OSULeaf, ACSF1, ArrowHead and PickupGestureWiimoteZ. The paper's
numbers are printed beside ours for orientation only (other data, other depth).

Protocol (our reading of §7.6.3, written down where it departs):

- data: aeon's train split minus a stratified 20 % validation part (split seed 0 for every seed), aeon's
  test split as the test set, z-normalised per variate with the training part's statistics (the paper
  z-normalises every series; :func:`load_timeseries` explains why per-variate train statistics);
- network: :func:`keras_attention.models.attention_encoder.attention_encoder` with the row's attention and
  a sinusoidal positional encoding (8 channels concatenated to the series before the input projection;
  ``--positional learned|none`` changes it for every row; the rows named "no positional encoding" are the
  ablation). The paper's depth (6 blocks, 8 heads, key_dim 64, width 512) is not CPU-feasible for 5 seeds
  x 4 sets x 14 rows, so the default depth is ``XM2ASettings.depth`` = **2 blocks, 4 heads, key_dim 16
  (width 64, feed-forward 256), dropout 0.1** (``--depth``, ``--heads``, ``--key-dim`` change it);
  ``--quick`` uses 1 block, 2 heads, key_dim 8 on a small slice. At 2 blocks x 4 heads XM2A's
  convolutions reach 7 time steps around each step (the paper's depth: 43;
  :func:`keras_attention.layers.xm2a.receptive_field`), written in the table header;
- training (:mod:`keras_attention.experiments.series`): RMSProp (the paper's), learning rate 1e-3, batch
  16, a budget of 500 optimizer steps per run (epochs derived per data set; the paper trains 25 epochs),
  the test accuracy of the final model and of the best-validation checkpoint (the paper reports its "best
  model accuracy"; we select on the validation split only), and the final training accuracy;
- seeds: seed k sets Keras' global seed (weights, dropout) and the shuffling; the tables give mean ± sample
  standard deviation of the accuracies (%) over the seeds, and Welch's t-test of every row against the
  reference row (no attention; the Transformer for ``xm2a-variants``; the default XM2A for the ablation)
  and of the dissertation's claims (``XM2ASettings.claims``, data);
- cost: ``params`` (the whole network) and ``attention params`` (the ``block{i}_attention`` layers), and
  the training step time of the seed-0 network after training: the median over ``step_repeats`` (10)
  timed ``train_on_batch`` calls on one training batch, after 3 warm-up calls. ``x MHA`` divides a row's
  step time by the Transformer row's (``keras.layers.MultiHeadAttention`` with the same heads and
  key_dim) on the same data set. Step times are wall-clock on a machine that may be shared: compare
  rows of one run, not runs;
- MiniRocket (aeon's ``aeon.classification.convolution_based.MiniRocketClassifier``, 10,000 kernels,
  ``random_state`` = seed) is the non-neural reference row of ``xm2a``.

Table 7.4's "input-to-scale" (IS) talk and its norm-less self-talk rows are not reproduced: the XM2A layer
has ``talk="scale"`` (SS) or ``"self"`` (ST) and always normalises; ``xm2a-ablation`` crosses talk x
descriptor x norm.

Outputs under ``out_dir``: ``<dataset>/<config>/seed<k>/`` (the ``train_run`` artefacts: history, curves,
``model.keras``, ``result.json`` with the step time added), ``results.json``, ``results.md``, and for
``xm2a-variants`` ``accuracy_vs_params.png`` (Fig. 7.4: mean test accuracy ± std against parameters).
"""

from dataclasses import dataclass, field
from typing import Any

from keras_attention.experiments.configs import SeriesSettings
from keras_attention.experiments.registry import ENCODER_OPTIONS, Experiment, RunnerRef, register
from keras_attention.experiments.results import Claim, slug

RUN = RunnerRef("keras_attention.experiments.xm2a_runs", "run_xm2a_experiment")

XM2A_DATASETS = ("JapaneseVowels", "BasicMotions", "OSULeaf", "ACSF1", "ArrowHead", "PickupGestureWiimoteZ")
PAPER_DATASETS = ("SADD", "AUSLAN", "MOCAP")
DEPTH = {"num_layers": 2, "num_heads": 4, "key_dim": 16, "dropout": 0.1}
QUICK_DEPTH = {"num_layers": 1, "num_heads": 2, "key_dim": 8, "dropout": 0.1}
STEP_REPEATS, STEP_WARMUP = 10, 3
TRANSFORMER = "Transformer (MultiHeadAttention)"
MINIROCKET = "minirocket"


@dataclass(frozen=True)
class XM2ASettings(SeriesSettings):
    """The encoder depth of a full and of a ``--quick`` run, the timed steps, the row the step times are
    divided by (``ratio_reference``), whether to draw accuracy against parameters (``plot``) and the notes
    under the table."""

    depth: dict[str, Any] = field(default_factory=lambda: dict(DEPTH))
    quick_depth: dict[str, Any] = field(default_factory=lambda: dict(QUICK_DEPTH))
    step_repeats: int = STEP_REPEATS
    quick_step_repeats: int = 3
    ratio_reference: str = TRANSFORMER
    plot: bool = False
    notes: tuple[str, ...] = ()
    positional: str = "sinusoidal"


@dataclass
class EncoderConfig:
    """One row: ``attention`` for :func:`attention_encoder` (None = no attention) or ``"minirocket"``;
    ``options`` are XM2A's (variant, talk, descriptor, norm) or the row's own ``positional``."""

    label: str
    attention: str | None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The row's folder name (:func:`~keras_attention.experiments.results.slug` of its label)."""
        return slug(self.label)


VARIANT_LABELS = {
    "xm2a": "XM2A",
    "msmsa": "XM2A-MSMSA (M)",
    "exp": "XM2A-Exp (E)",
    "pool": "XM2A-Pool (P)",
    "exp_pool": "XM2A-Exp-Pool (EP)",
}
VARIANT_CONFIGS = [EncoderConfig(label, "xm2a", {"variant": variant}) for variant, label in VARIANT_LABELS.items()]
MULTI_HEAD_CONFIGS = [EncoderConfig(TRANSFORMER, "transformer"), EncoderConfig("MSMSA", "msmsa")]
NO_ATTENTION = "No attention"
WITHOUT_POSITIONAL = " without positional encoding"
# the ablation rows: the Transformer sees time order only through the encoding, XM2A also through its kernels
POSITIONAL_ABLATION_CONFIGS = [
    EncoderConfig(TRANSFORMER + WITHOUT_POSITIONAL, "transformer", {"positional": "none"}),
    EncoderConfig("XM2A" + WITHOUT_POSITIONAL, "xm2a", {"variant": "xm2a", "positional": "none"}),
]

XM2A_CONFIGS = [
    EncoderConfig(NO_ATTENTION, None),
    EncoderConfig("Self", "self"),
    EncoderConfig("SENet", "se"),
    EncoderConfig("BAM", "bam"),
    *MULTI_HEAD_CONFIGS,
    *VARIANT_CONFIGS,
    *POSITIONAL_ABLATION_CONFIGS,
    EncoderConfig("MiniRocket (non-neural reference)", MINIROCKET),
]

_TABLE_7_3 = {  # dataset -> row -> accuracy (%); the paper's baselines are VGG / InceptionNet, not ours
    "SADD": {"Self": 94.56, "SENet": 94.91, "BAM": 95.95, TRANSFORMER: 96.16, "MSMSA": 97.03, "XM2A": 98.12},
    "AUSLAN": {"Self": 82.50, "SENet": 82.54, "BAM": 82.89, TRANSFORMER: 85.52, "MSMSA": 87.63, "XM2A": 89.52},
    "MOCAP": {"Self": 73.76, "SENet": 73.11, "BAM": 74.99, TRANSFORMER: 75.11, "MSMSA": 76.47, "XM2A": 78.82},
}


# §7.6.4.2: XM2A "outperforms not only the traditional attention modules, such as Self, SENet, and BAM, but
# also, the Transformer, and MSMSA"; §7.6.4.1 (Fig. 7.4): "MSMSA provides better accuracy than Transformer",
# "XM2A variants always provide better accuracy than both Transformer and MSMSA". The paper's baseline
# without attention is VGG / InceptionNet, below every attention row of Table 7.3; ours is the encoder
# without attention sub-blocks.
XM2A_CLAIMS = (
    *(Claim("XM2A", other, "§7.6.4.2") for other in ("Self", "SENet", "BAM", TRANSFORMER, "MSMSA")),
    Claim("XM2A", NO_ATTENTION, "Table 7.3"),
    Claim("MSMSA", TRANSFORMER, "§7.6.4.1"),
)
VARIANT_CLAIMS = (
    Claim("MSMSA", TRANSFORMER, "§7.6.4.1"),
    *(Claim(label, other, "§7.6.4.1 (Fig. 7.4)") for label in VARIANT_LABELS.values() if label != "XM2A-MSMSA (M)"
      for other in (TRANSFORMER, "MSMSA")),
)

# The settings of the committed tables (benchmarks/results/xm2a_*.md): options of `reproduce`, by dest.
PUBLISHED = {"seeds": 5, "steps": 500, "batch_size": 16, "optimizer": "rmsprop", "learning_rate": 1e-3,
             "positional": "sinusoidal"}
PUBLISHED_DATASETS = "JapaneseVowels,ArrowHead,PickupGestureWiimoteZ,BasicMotions"


# The rows of the committed xm2a_comparison (the Table 7.3 analog): Self, SENet and BAM are left out.
PUBLISHED_ROWS = (NO_ATTENTION, TRANSFORMER, "MSMSA", *VARIANT_LABELS.values(),
                  *(c.label for c in POSITIONAL_ABLATION_CONFIGS), "MiniRocket (non-neural reference)")


def _register(name: str, description: str, paper_table: str, configs: list[EncoderConfig],
              paper: dict[str, dict[str, float]], settings: XM2ASettings, published: str = PUBLISHED_DATASETS,
              rows: tuple[str, ...] | None = None) -> None:
    preset = {"dataset": published, **PUBLISHED, **({"rows": rows} if rows else {})}
    register(Experiment(name=name, description=description, paper_table=paper_table, run=RUN,
                        default_datasets=XM2A_DATASETS, default_seeds=5, default_epochs=30, configs=configs,
                        paper=paper, settings=settings, options=ENCODER_OPTIONS, presets={"published": preset}))


_register("xm2a", "XM2A and its variants vs MSMSA, Transformer, BAM, SENet, Self, no attention, MiniRocket.",
          "Dissertation Table 7.3", XM2A_CONFIGS, _TABLE_7_3, XM2ASettings(reference=NO_ATTENTION, claims=XM2A_CLAIMS,
                                                                           notes=(
              "The paper's 'Baseline W/O Attn' rows are VGG / InceptionNet (not reproduced); our 'No attention' "
              "row is the same encoder without attention sub-blocks.",
              "The rows 'without positional encoding' are the ablation: the same encoder without the encoding "
              "channels; the Transformer then cannot see time order (its output is invariant to shuffling the "
              "time steps).")), rows=PUBLISHED_ROWS)
_register("xm2a-variants", "Accuracy vs parameters of every XM2A variant, the Transformer and MSMSA (PNG).",
          "Dissertation Fig. 7.4", [*VARIANT_CONFIGS, *MULTI_HEAD_CONFIGS],
          {ds: {k: v for k, v in cells.items() if k in ("XM2A", TRANSFORMER, "MSMSA")}
           for ds, cells in _TABLE_7_3.items()},
          XM2ASettings(plot=True, reference=TRANSFORMER, claims=VARIANT_CLAIMS))


def _ablation_label(descriptor: str, norm: str, talk: str) -> str:
    talk_text = "scale-to-scale (SS)" if talk == "scale" else "self-talk (ST)"
    label = f"{'average' if descriptor == 'mean' else 'maximum'} / {norm} norm / {talk_text}"
    return label + (" = XM2A" if (descriptor, norm, talk) == ("mean", "layer", "scale") else "")


XM2A_DEFAULT = "average / layer norm / scale-to-scale (SS) = XM2A"

ABLATION_CONFIGS = [
    EncoderConfig(_ablation_label(descriptor, norm, talk), "xm2a",
                  {"descriptor": descriptor, "norm": norm, "talk": talk})
    for descriptor in ("max", "mean") for norm in ("batch", "layer") for talk in ("self", "scale")
]

_TABLE_7_4_SS = {  # (descriptor, norm) -> (SADD, AUSLAN, MOCAP) of the scale-to-scale rows
    ("max", "batch"): (96.24, 86.24, 76.89),
    ("max", "layer"): (97.52, 88.15, 77.99),
    ("mean", "batch"): (96.02, 87.38, 77.05),
    ("mean", "layer"): (98.12, 89.52, 78.82),
}

# §7.6.4.3: "XM2A outperforms all alternative configurations"; average beats maximum descriptors, layer norm
# beats batch norm, scale-to-scale cross-talk beats self-talk (each claim: the XM2A row against the row that
# differs from it in that one choice).
ABLATION_CLAIMS = (
    *(Claim(XM2A_DEFAULT, c.label, "§7.6.4.3") for c in ABLATION_CONFIGS if c.label != XM2A_DEFAULT),
)

_register("xm2a-ablation", "XM2A ablation: descriptor mean/max x norm layer/batch x talk self/scale.",
          "Dissertation Table 7.4", ABLATION_CONFIGS,
          {p: {_ablation_label(desc, norm, "scale"): values[i] for (desc, norm), values in _TABLE_7_4_SS.items()}
           for i, p in enumerate(PAPER_DATASETS)},
          XM2ASettings(ratio_reference=XM2A_DEFAULT, reference=XM2A_DEFAULT, claims=ABLATION_CLAIMS, notes=(
              "x ratio here: step time relative to the default XM2A row (there is no Transformer row).",
              "The paper's self-talk (ST) rows have no normalisation (average 95.12 / 80.73 / 72.17, maximum "
              "94.99 / 80.40 / 71.76 on SADD / AUSLAN / MOCAP); ours normalise like every XM2A, so they are "
              "left without a paper value. The input-to-scale (IS) rows are not reproduced.")),
          published="ArrowHead,PickupGestureWiimoteZ")

__all__ = ["XM2A_DATASETS", "XM2ASettings", "EncoderConfig"]
