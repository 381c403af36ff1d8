"""What every experiment writes at the end: ``results.json`` (the summary) and ``results.md`` (its tables).

The tables are ``pandas.DataFrame.to_markdown`` (tabulate's ``pipe`` format) of cells the experiments
format themselves (numbers are not re-parsed, so ``100.00`` stays ``100.00``). Statistics over seeds are
the mean and the sample standard deviation (0 for a single seed), written ``mean ± std``.
"""

import math
import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path

from keras_attention.experiments.artifacts import RESULTS_JSON, RESULTS_MD
from keras_attention.utils.files import write_json, write_text

QUICK_NOTE = " (quick mode: small subset, not comparable to the paper)"
ALPHA = 0.05  # the significance level of the Welch tests


def slug(label):
    """A directory name for a configuration label: lower case, every other character than a letter or a digit
    replaced by ``_``, no leading or trailing ``_``."""
    return "".join(ch if ch.isalnum() else "_" for ch in label.lower()).strip("_")


def mean_std(values):
    """``(mean, sample std)`` of ``values`` (std 0 for one value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def format_mean_std(pair, digits=2):
    """``"mean ± std"`` of a ``(mean, std)`` pair."""
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def seed_statistics(runs, metrics=("top1",)):
    """Per-configuration cell of the summary from the ``result.json`` dicts of its seeds: every metric in %
    per seed and its ``<metric>_mean_std``, the mean training seconds and the parameters of the first seed."""
    cell = {}
    for metric in metrics:
        cell[metric] = [100 * run["test"][metric] for run in runs]
    for metric in metrics:
        cell[f"{metric}_mean_std"] = mean_std(cell[metric])
    cell["train_seconds_mean"] = statistics.fmean(run["train_seconds"] for run in runs)
    cell["params"] = runs[0]["params"]
    return cell


def summary_head(experiment, options, seeds, epochs, **data):
    """The first entries of every experiment's ``results.json``: the experiment, its paper table, ``data``
    (the data set or sets), the number of seeds, the epochs and whether it was a quick run."""
    return {"experiment": experiment.name, "paper_table": experiment.paper_table, **data, "seeds": len(seeds),
            "epochs": epochs, "quick": options.quick}


def subset_note(summary):
    """The markdown phrase that says a run used image subsets (empty when it used every image)."""
    parts = []
    if summary.get("train_limit"):
        parts.append(f"the first {summary['train_limit']} training images")
    if summary.get("test_limit"):
        parts.append(f"the first {summary['test_limit']} test images")
    return f" (subset: {' and '.join(parts)})" if parts else ""


def paper_value(value, digits=2):
    """A paper number as a cell: ``-`` when the paper has none (None or NaN)."""
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def markdown_table(header, rows, align=None):
    """A markdown table of ``rows`` (lists of cells, already formatted) under ``header``.

    ``align`` is one letter per column, ``l`` or ``r`` (default: the first column left, the others right)."""
    import pandas as pd

    align = align or "l" + "r" * (len(header) - 1)
    frame = pd.DataFrame([[str(cell) for cell in row] for row in rows], columns=list(header))
    sides = {"l": "left", "r": "right"}
    return frame.to_markdown(index=False, tablefmt="pipe", disable_numparse=True,
                             colalign=[sides[a] for a in align])


def write_results(summary, out_dir, text):
    """Write ``summary`` to ``out_dir/results.json`` and ``text`` to ``out_dir/results.md``; print the text."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / RESULTS_JSON, summary)
    text = text if text.endswith("\n") else text + "\n"
    write_text(out_dir / RESULTS_MD, text)
    print(text, flush=True)
    return out_dir / RESULTS_MD


# ------------------------------------------------------------------------- what the numbers say (Welch)
@dataclass(frozen=True)
class Claim:
    """A claim of a paper, as data: row ``better`` has a higher accuracy than row ``worse`` (labels of an
    experiment's rows); ``source`` says where the paper makes it."""

    better: str
    worse: str
    source: str = ""


def welch_test(a, b):
    """Welch's t-test (``scipy.stats.ttest_ind(a, b, equal_var=False)``, two-sided) of the samples ``a`` and
    ``b``: ``{"diff": mean(a) - mean(b), "t", "p", "n": (len(a), len(b))}``. ``p`` is None with fewer than
    two values on either side (no spread to compare against), and 1.0 when both samples are one and the
    same constant (scipy's NaN: no difference at all); two different constants give p = 0."""
    import numpy as np
    from scipy import stats

    a, b = [float(v) for v in a], [float(v) for v in b]
    result = {"diff": statistics.fmean(a) - statistics.fmean(b), "t": None, "p": None, "n": (len(a), len(b))}
    if len(a) < 2 or len(b) < 2:
        return result
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's "precision loss" on (nearly) constant samples
        test = stats.ttest_ind(a, b, equal_var=False)
    t, p = float(test.statistic), float(test.pvalue)
    if math.isnan(p):  # both samples constant and equal
        t, p = 0.0, 1.0
    return {**result, "t": t, "p": p}


def _verdict(test, alpha, words):
    """``words`` = (first higher, first lower, within the spread) by ``test`` (:func:`welch_test`) at
    ``alpha``; ``"not tested"`` without a p-value."""
    if test["p"] is None:
        return "not tested"
    if test["p"] < alpha:
        return words[0] if test["diff"] > 0 else words[1]
    return words[2]


def compare_to_reference(samples, reference, alpha=ALPHA):
    """Each row of ``samples`` (``{label: per-seed values}``, in order) against ``samples[reference]``:
    a list of ``{"label", **welch_test(row, reference), "verdict"}`` with verdict ``"higher"`` / ``"lower"``
    (p < ``alpha``), ``"within the seed spread"`` or ``"not tested"`` (fewer than two seeds). Rows without
    values (None) and the reference itself are left out."""
    base = samples.get(reference)
    rows = []
    if not base:
        return rows
    for label, values in samples.items():
        if label == reference or not values:
            continue
        test = welch_test(values, base)
        verdict = _verdict(test, alpha, ("higher", "lower", "within the seed spread"))
        rows.append({"label": label, **test, "verdict": verdict})
    return rows


def claim_verdict(claim, samples, alpha=ALPHA):
    """Whether ``claim`` (a :class:`Claim`) holds in ``samples`` (``{label: per-seed values}``): ``"reproduced"``
    (better > worse, p < ``alpha``), ``"opposite significant"`` (better < worse, p < ``alpha``), ``"not
    reproduced"`` (the difference is within the seed spread) or ``"not tested"`` (a row missing or with
    fewer than two seeds); with the Welch test of better vs worse."""
    better, worse = samples.get(claim.better), samples.get(claim.worse)
    if not better or not worse:
        return {"verdict": "not tested", "diff": None, "p": None}
    test = welch_test(better, worse)
    return {**test, "verdict": _verdict(test, alpha, ("reproduced", "opposite significant", "not reproduced"))}


def _difference(test):
    return f"{test['diff']:+.2f} points, p = {test['p']:.3g}" if test.get("p") is not None else \
        f"{test['diff']:+.2f} points"


def numbers_say(metrics, reference, claims=(), alpha=ALPHA, unit="points"):
    """The markdown lines of a "What the numbers say" section.

    ``metrics``: ``{metric name: {label: per-seed values}}`` (e.g. the final-model and the
    best-validation-checkpoint test accuracy, in %), each compared row by row to ``reference``
    (:func:`compare_to_reference`); ``claims``: :class:`Claim` values, each given a verdict per metric
    (:func:`claim_verdict`). Differences count when Welch's t-test gives p < ``alpha``."""
    lines = [f"What the numbers say (Welch's t-test on the per-seed values, two-sided, p < {alpha:g}; differences in "
             f"{unit} against **{reference}**):", ""]
    for metric, samples in metrics.items():
        if not samples.get(reference):
            lines.append(f"- {metric}: this run has no {reference} row (or no values of it) to compare against.")
            continue
        rows = compare_to_reference(samples, reference, alpha)
        groups = {}
        for row in rows:
            groups.setdefault(row["verdict"], []).append(f"{row['label']} ({_difference(row)})")
        parts = [f"{verdict}: {'; '.join(groups[verdict])}"
                 for verdict in ("higher", "lower", "within the seed spread", "not tested") if verdict in groups]
        lines.append(f"- {metric}: " + (". ".join(parts) if parts else "no other row") + ".")
    for claim in claims:
        verdicts = []
        for metric, samples in metrics.items():
            result = claim_verdict(claim, samples, alpha)
            detail = "" if result["diff"] is None else f" ({_difference(result)})"
            verdicts.append(f"{metric}: {result['verdict']}{detail}")
        source = f" ({claim.source})" if claim.source else ""
        lines.append(f"- Claim{source}: {claim.better} > {claim.worse}. " + "; ".join(verdicts) + ".")
    return lines

