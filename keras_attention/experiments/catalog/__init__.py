"""One module per paper: its experiments' configurations, the paper's numbers and typed settings, and
whatever the paper's tables need beyond the shared runners (:mod:`~keras_attention.experiments.images`,
:mod:`~keras_attention.experiments.series`). Importing a module registers its experiments
(:mod:`~keras_attention.experiments.registry` imports them on demand)."""
