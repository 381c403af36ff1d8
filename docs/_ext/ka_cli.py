"""The command line's ``--help``, generated when the site is built.

``.. cli-help:: keras_attention.cli`` imports the command-line module (or package), finds its parser builder
(``build_parser``: an attribute of the module, else of one of its submodules), and writes the help of the
command and of every subcommand, each under its own heading, as literal blocks. Nothing is run but the
parser: the text is what ``keras-attention <command> --help`` prints, read from the code of this checkout.
"""

import argparse
import importlib
import os
import pkgutil

from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.parsing import nested_parse_to_nodes

BUILDER_NAMES = ("build_parser", "make_parser", "create_parser")
PROGRAM = "keras-attention"
# argparse wraps help text at $COLUMNS: the same width on every machine
HELP_WIDTH = "100"


def find_parser_builder(modname):
    """The function that builds the command's ``ArgumentParser``, and the module that holds it."""
    module = importlib.import_module(modname)
    candidates = [module]
    if hasattr(module, "__path__"):  # a package: its submodules too
        for info in pkgutil.iter_modules(module.__path__, modname + "."):
            if not info.name.endswith(".__main__"):  # running it would start the command
                candidates.append(importlib.import_module(info.name))
    for candidate in candidates:
        for name in BUILDER_NAMES:
            builder = getattr(candidate, name, None)
            if callable(builder):
                return builder, candidate
    raise LookupError(f"no parser builder ({', '.join(BUILDER_NAMES)}) in {modname} or its submodules")


def subcommands(parser):
    """``(name, subparser)`` for every subcommand of ``parser``, in the order of its help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:  # aliases share a parser
                    seen.add(id(sub))
                    yield name, sub


def help_sections(parser, words=()):
    """``(command words, help text)`` for the parser and, depth first, every subcommand."""
    yield words, parser.format_help()
    for name, sub in subcommands(parser):
        yield from help_sections(sub, (*words, name))


class CliHelp(SphinxDirective):
    """``.. cli-help:: <module>``: the ``--help`` of the command and of each subcommand."""

    required_arguments = 1

    def run(self):
        previous = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = HELP_WIDTH
        try:
            builder, module = find_parser_builder(self.arguments[0])
            parser = builder()
            sections = list(help_sections(parser))
        finally:
            if previous is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = previous
        self.env.note_dependency(module.__file__)
        lines = []
        for words, text in sections:
            title = " ".join((PROGRAM, *words))
            lines += [f"``{title}``", "-" * (len(title) + 4), "", ".. code-block:: text", ""]
            lines += ["   " + line if line.strip() else "" for line in text.rstrip().splitlines()]
            lines.append("")
        content = StringList(lines, source=f"{self.get_source_info()[0]} (cli-help)")
        return nested_parse_to_nodes(self.state, content, allow_section_headings=True)


def setup(app):
    app.add_directive("cli-help", CliHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
