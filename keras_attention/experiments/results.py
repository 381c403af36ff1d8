"""What every experiment writes at the end: ``results.json`` (the summary) and ``results.md`` (its tables).

The tables are ``pandas.DataFrame.to_markdown`` (tabulate's ``pipe`` format) of cells the experiments
format themselves (numbers are not re-parsed, so ``100.00`` stays ``100.00``). Statistics over seeds are
the mean and the sample standard deviation (0 for a single seed), written ``mean ± std``.
"""

import math
import statistics
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_attention.experiments.artifacts import RESULTS_JSON, RESULTS_MD
from keras_attention.utils.files import write_json, write_text

if TYPE_CHECKING:
    from keras_attention.experiments.registry import Experiment, RunOptions

QUICK_NOTE = " (quick mode: small subset, not comparable to the paper)"
ALPHA = 0.05  # the significance level of the Welch tests


def slug(label: str) -> str:
    """A directory name for a configuration label: lower case, every other character than a letter or a digit
    replaced by ``_``, no leading or trailing ``_``.

    Args:
        label: the configuration's label.

    Returns:
        The folder name.

    Example:
        >>> from keras_attention.experiments.results import slug
        >>> slug("SAN-d (full)")
        'san_d__full'
    """
    return "".join(ch if ch.isalnum() else "_" for ch in label.lower()).strip("_")


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """``(mean, sample std)`` of ``values`` (std 0 for one value).

    Args:
        values: the numbers (at least one).

    Returns:
        ``(mean, sample standard deviation)``.

    Raises:
        statistics.StatisticsError: ``values`` is empty.

    Example:
        >>> from keras_attention.experiments.results import mean_std
        >>> mean_std([1, 2, 3])
        (2.0, 1.0)
    """
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def format_mean_std(pair: Sequence[float], digits: int = 2) -> str:
    """``"mean ± std"`` of a ``(mean, std)`` pair.

    Args:
        pair: ``(mean, std)``.
        digits: decimals of both.

    Returns:
        The cell text.

    Example:
        >>> from keras_attention.experiments.results import format_mean_std
        >>> format_mean_std((89.4321, 0.25))
        '89.43 ± 0.25'
    """
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def seed_statistics(runs: Sequence[Mapping[str, Any]], metrics: Iterable[str] = ("top1",)) -> dict[str, Any]:
    """Per-configuration cell of the summary from the ``result.json`` dicts of its seeds.

    Args:
        runs: the seeds' ``result.json`` dicts (``"test"``, ``"train_seconds"``, ``"params"``), at least one.
        metrics: the test metrics to gather (fractions in ``result.json``).

    Returns:
        Every metric in % per seed (``<metric>``) and its ``<metric>_mean_std``, the mean training seconds
        (``train_seconds_mean``) and the parameters of the first seed (``params``).

    Example:
        >>> from keras_attention.experiments.results import seed_statistics
        >>> runs = [{"test": {"top1": 0.5}, "train_seconds": 10, "params": 7},
        ...         {"test": {"top1": 0.75}, "train_seconds": 20, "params": 7}]
        >>> cell = seed_statistics(runs)
        >>> cell["top1"], cell["train_seconds_mean"], cell["params"]
        ([50.0, 75.0], 15.0, 7)
    """
    cell: dict[str, Any] = {}
    for metric in metrics:
        cell[metric] = [100 * run["test"][metric] for run in runs]
    for metric in metrics:
        cell[f"{metric}_mean_std"] = mean_std(cell[metric])
    cell["train_seconds_mean"] = statistics.fmean(run["train_seconds"] for run in runs)
    cell["params"] = runs[0]["params"]
    return cell


def summary_head(experiment: "Experiment", options: "RunOptions", seeds: Sequence[int], epochs: int | None,
                 **data: Any) -> dict[str, Any]:
    """The first entries of every experiment's ``results.json``.

    Args:
        experiment: the experiment.
        options: the run options (``quick``).
        seeds: the seeds.
        epochs: the epochs per run (None where a step budget decides them per data set).
        **data: the data set or sets, e.g. ``dataset=...``.

    Returns:
        The experiment's name, its paper table, ``data``, the number of seeds, the epochs and whether it was a
        quick run.
    """
    return {"experiment": experiment.name, "paper_table": experiment.paper_table, **data, "seeds": len(seeds),
            "epochs": epochs, "quick": options.quick}


def subset_note(summary: Mapping[str, Any]) -> str:
    """The markdown phrase that says a run used image subsets.

    Args:
        summary: the summary (``train_limit``, ``test_limit``).

    Returns:
        The phrase, empty when the run used every image.

    Example:
        >>> from keras_attention.experiments.results import subset_note
        >>> subset_note({"train_limit": 512, "test_limit": None})
        ' (subset: the first 512 training images)'
    """
    parts = []
    if summary.get("train_limit"):
        parts.append(f"the first {summary['train_limit']} training images")
    if summary.get("test_limit"):
        parts.append(f"the first {summary['test_limit']} test images")
    return f" (subset: {' and '.join(parts)})" if parts else ""


def paper_value(value: float | None, digits: int = 2) -> str:
    """A paper number as a cell.

    Args:
        value: the paper's number, None or NaN when it has none.
        digits: decimals.

    Returns:
        The cell text, ``-`` when the paper has no number.

    Example:
        >>> from keras_attention.experiments.results import paper_value
        >>> paper_value(89.436), paper_value(float("nan"))
        ('89.44', '-')
    """
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Iterable[Iterable[Any]], align: str | None = None) -> str:
    """A markdown table of ``rows`` (lists of cells, already formatted) under ``header``.

    Args:
        header: the column titles.
        rows: the rows, each a list of cells (written with ``str``, numbers not re-parsed).
        align: one letter per column, ``l`` or ``r`` (default: the first column left, the others right).

    Returns:
        The table (tabulate's ``pipe`` format), without a trailing newline.

    Example:
        >>> from keras_attention.experiments.results import markdown_table
        >>> print(markdown_table(["model", "top-1"], [["SAN-d", "100.00"]]))
        | model   |   top-1 |
        |:--------|--------:|
        | SAN-d   |  100.00 |
    """
    import pandas as pd

    align = align or "l" + "r" * (len(header) - 1)
    frame = pd.DataFrame([[str(cell) for cell in row] for row in rows], columns=list(header))
    sides = {"l": "left", "r": "right"}
    return frame.to_markdown(index=False, tablefmt="pipe", disable_numparse=True,
                             colalign=[sides[a] for a in align])


def write_results(summary: Mapping[str, Any], out_dir: str | PathLike[str], text: str) -> Path:
    """Write ``summary`` to ``out_dir/results.json`` and ``text`` to ``out_dir/results.md``; print the text.

    Args:
        summary: the experiment's summary (JSON-serialisable).
        out_dir: the run directory (created if missing).
        text: the markdown of ``results.md`` (a final newline is added if missing).

    Returns:
        The path of ``results.md``.

    Raises:
        OSError: a file cannot be written.
    """
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


def welch_test(a: Iterable[float], b: Iterable[float]) -> dict[str, Any]:
    """Welch's t-test (``scipy.stats.ttest_ind(a, b, equal_var=False)``, two-sided) of the samples ``a`` and
    ``b``.

    Args:
        a: the first sample (at least one value).
        b: the second sample (at least one value).

    Returns:
        ``{"diff": mean(a) - mean(b), "t", "p", "n": (len(a), len(b))}``. ``t`` and ``p`` are None with fewer
        than two values on either side (no spread to compare against); ``p`` is 1.0 when both samples are one
        and the same constant (scipy's NaN: no difference at all); two different constants give p = 0.

    Example:
        >>> from keras_attention.experiments.results import welch_test
        >>> test = welch_test([90.1, 90.4, 90.2], [89.0, 89.3, 89.1])
        >>> round(test["diff"], 2), test["p"] < 0.05, test["n"]
        (1.1, True, (3, 3))
    """
    import numpy as np
    from scipy import stats

    a, b = [float(v) for v in a], [float(v) for v in b]
    result: dict[str, Any] = {"diff": statistics.fmean(a) - statistics.fmean(b), "t": None, "p": None,
                              "n": (len(a), len(b))}
    if len(a) < 2 or len(b) < 2:
        return result
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's "precision loss" on (nearly) constant samples
        test = stats.ttest_ind(a, b, equal_var=False)
    t, p = float(test.statistic), float(test.pvalue)
    if math.isnan(p):  # both samples constant and equal
        t, p = 0.0, 1.0
    return {**result, "t": t, "p": p}


def _verdict(test: Mapping[str, Any], alpha: float, words: Sequence[str]) -> str:
    """``words`` = (first higher, first lower, within the spread) by ``test`` (:func:`welch_test`) at
    ``alpha``; ``"not tested"`` without a p-value."""
    if test["p"] is None:
        return "not tested"
    if test["p"] < alpha:
        return words[0] if test["diff"] > 0 else words[1]
    return words[2]


def compare_to_reference(samples: Mapping[str, Sequence[float] | None], reference: str,
                         alpha: float = ALPHA) -> list[dict[str, Any]]:
    """Each row of ``samples`` against ``samples[reference]`` (Welch's t-test, :func:`welch_test`).

    Args:
        samples: ``{label: per-seed values}``, in order; a row may be None (no values).
        reference: the label of the row the others are compared to.
        alpha: the significance level.

    Returns:
        A list of ``{"label", **welch_test(row, reference), "verdict"}`` with verdict ``"higher"`` / ``"lower"``
        (p < ``alpha``), ``"within the seed spread"`` or ``"not tested"`` (fewer than two seeds). Rows without
        values and the reference itself are left out; empty when the reference has no values.
    """
    base = samples.get(reference)
    rows: list[dict[str, Any]] = []
    if not base:
        return rows
    for label, values in samples.items():
        if label == reference or not values:
            continue
        test = welch_test(values, base)
        verdict = _verdict(test, alpha, ("higher", "lower", "within the seed spread"))
        rows.append({"label": label, **test, "verdict": verdict})
    return rows


def claim_verdict(claim: Claim, samples: Mapping[str, Sequence[float] | None],
                  alpha: float = ALPHA) -> dict[str, Any]:
    """Whether ``claim`` holds in ``samples``.

    Args:
        claim: the paper's claim.
        samples: ``{label: per-seed values}``.
        alpha: the significance level.

    Returns:
        The Welch test of better vs worse (:func:`welch_test`) with ``"verdict"``: ``"reproduced"`` (better >
        worse, p < ``alpha``), ``"opposite significant"`` (better < worse, p < ``alpha``), ``"not reproduced"``
        (the difference is within the seed spread) or ``"not tested"`` (a row missing or with fewer than two
        seeds; ``diff`` and ``p`` None when a row is missing).
    """
    better, worse = samples.get(claim.better), samples.get(claim.worse)
    if not better or not worse:
        return {"verdict": "not tested", "diff": None, "p": None}
    test = welch_test(better, worse)
    return {**test, "verdict": _verdict(test, alpha, ("reproduced", "opposite significant", "not reproduced"))}


def _difference(test: Mapping[str, Any]) -> str:
    return f"{test['diff']:+.2f} points, p = {test['p']:.3g}" if test.get("p") is not None else \
        f"{test['diff']:+.2f} points"


def numbers_say(metrics: Mapping[str, Mapping[str, Sequence[float] | None]], reference: str,
                claims: Iterable[Claim] = (), alpha: float = ALPHA, unit: str = "points") -> list[str]:
    """The markdown lines of a "What the numbers say" section.

    Args:
        metrics: ``{metric name: {label: per-seed values}}`` (e.g. the final-model and the
            best-validation-checkpoint test accuracy, in %), each compared row by row to ``reference``
            (:func:`compare_to_reference`).
        reference: the label of the reference row.
        claims: :class:`Claim` values, each given a verdict per metric (:func:`claim_verdict`).
        alpha: differences count when Welch's t-test gives p < ``alpha``.
        unit: the unit of the differences, in the heading.

    Returns:
        The section's lines (a heading, a blank line, one bullet per metric and per claim).
    """
    lines = [f"What the numbers say (Welch's t-test on the per-seed values, two-sided, p < {alpha:g}; differences in "
             f"{unit} against **{reference}**):", ""]
    for metric, samples in metrics.items():
        if not samples.get(reference):
            lines.append(f"- {metric}: this run has no {reference} row (or no values of it) to compare against.")
            continue
        rows = compare_to_reference(samples, reference, alpha)
        groups: dict[str, list[str]] = {}
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

