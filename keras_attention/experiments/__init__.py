"""Experiment machinery shared by the CLI, the benchmark scripts and the notebooks.

Layers, each importing only those above it (``registry`` imports nothing of the package; no module here
imports a ``catalog`` module at import time):

- :mod:`~.registry`: :class:`~.registry.Experiment`, :class:`~.registry.RunOptions`, the typed
  :class:`~.registry.Settings` base and the name -> catalog module table;
- :mod:`~.arguments`, :mod:`~.run_directory`, :mod:`~.machine`, :mod:`~.results` (mean ± std, ``slug``, the
  markdown / JSON results writer), :mod:`~.evaluation` (top-k accuracy), :mod:`~.plots`, :mod:`~.backup`
  (crash-safe training backups a run resumes from exactly), :mod:`~.training`;
- :mod:`~.runner`: option resolution, THE per-seed loop with resume, running in a claimed work directory;
- :mod:`~.images` and :mod:`~.series`: the runners shared by the image and the time-series experiments;
- :mod:`~.catalog`: one module per paper (configurations, paper numbers, settings, presets);
- :mod:`~.publish`, :mod:`~.reuse`: copying results into ``benchmarks/results``, taking over finished runs.
"""
