"""Experiment machinery shared by the CLI and the notebooks: training runs, the registry, figures."""
