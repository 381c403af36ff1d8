"""The API reference: one directive that documents every public name of a module.

``.. api-module:: keras_attention.layers`` (in an ``.rst`` page) writes the module's docstring and then one
autodoc entry per name of the module's ``__all__``, read when the site is built, grouped into classes,
functions and constants. A name added to ``__all__`` gets its entry without an edit here, and
``tests/docs/test_docs_build.py`` checks that every name has one in the built HTML.

``:names:`` lists the names for a module without ``__all__`` (the top-level package) or a few names of a module
whose other names are documented elsewhere; ``:module-only:`` writes the module's docstring alone;
``:no-docstring:`` leaves the module's docstring out (only its target, for ``:mod:`` references);
``:no-class-members:`` documents classes without their methods and properties; ``:exclude:`` leaves names out.

Four hooks keep the generated entries honest and readable under ``nitpicky = True``:

- a class whose ``__new__`` takes ``(*args, **kwargs)`` (every Keras layer) is shown with the signature of its
  ``__init__``, the arguments a user passes;
- a constant (a dict, a tuple, a numpy dtype) has no docstring of its own: the docstring of its type
  (``dict``'s, numpy's) is dropped rather than shown as if it described the constant;
- a base class that is private (``_SaliencyCrossAttention``) is replaced by its own bases in "Bases:";
- a cross-reference by an unqualified name (``AttentionKind`` in a docstring of ``keras_attention.models``)
  that Sphinx does not find in the referring module is resolved when exactly one documented object has that
  name, as Sphinx itself does for ``.name`` references; otherwise it stays a missing reference (an error).
"""

import importlib
import inspect
import re

from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode
from sphinx.util.parsing import nested_parse_to_nodes

# constants whose value is longer than this are shown without it (a dict of every data set, ...)
MAX_VALUE_LENGTH = 80


def public_names(module, names=None):
    """The names a module exports: ``names`` if given, else its ``__all__`` (in that order)."""
    if names:
        return list(names)
    exported = getattr(module, "__all__", None)
    if exported is None:
        raise ValueError(f"{module.__name__} has no __all__: give the names with :names:")
    return list(exported)


def kind_of(value):
    """``"class"``, ``"exception"``, ``"function"`` or ``"data"``."""
    if inspect.isclass(value):
        return "exception" if issubclass(value, BaseException) else "class"
    if inspect.isroutine(value):
        return "function"
    return "data"


def entry_lines(modname, name, value, members=True):
    """The reStructuredText autodoc entry for ``modname.name``."""
    kind = kind_of(value)
    full = f"{modname}.{name}"
    if kind in ("class", "exception"):
        lines = [f".. auto{kind}:: {full}"]
        if value.__name__ == name:  # an alias (SAN = ScaleSpaceAttention) is "alias of" its class
            lines += ["   :show-inheritance:"] + (["   :members:"] if members else [])
        return lines
    if kind == "function":
        return [f".. autofunction:: {full}"]
    lines = [f".. autodata:: {full}"]
    if len(repr(value)) > MAX_VALUE_LENGTH:
        lines.append("   :no-value:")
    return lines


class ApiModule(SphinxDirective):
    """``.. api-module:: <module>``: the module's docstring and every name of its ``__all__``."""

    required_arguments = 1
    option_spec = {"names": directives.unchanged, "exclude": directives.unchanged, "module-only": directives.flag,
                   "no-docstring": directives.flag, "no-class-members": directives.flag}

    def run(self):
        modname = self.arguments[0]
        module = importlib.import_module(modname)
        if "module-only" in self.options:
            names = []
        else:
            names = public_names(module, (self.options.get("names") or "").split())
        excluded = set((self.options.get("exclude") or "").split())
        groups = {"class": [], "exception": [], "function": [], "data": []}
        for name in names:
            if name in excluded:
                continue
            value = getattr(module, name)
            groups[kind_of(value)].append((name, value))
        if "no-docstring" in self.options:
            lines = [f".. py:module:: {modname}", ""]
        else:
            lines = [f".. automodule:: {modname}", ""]
        members = "no-class-members" not in self.options
        titles = {"class": "Classes", "exception": "Exceptions", "function": "Functions", "data": "Constants"}
        for kind, entries in groups.items():
            if not entries:
                continue
            lines += [f".. rubric:: {titles[kind]}", ""]
            for name, value in sorted(entries, key=lambda item: item[0].lower()):
                lines += entry_lines(modname, name, value, members) + [""]
        source = self.get_source_info()[0]
        content = StringList(lines, source=f"{source} (api-module {modname})")
        self.env.note_dependency(inspect.getsourcefile(module) or "")
        return nested_parse_to_nodes(self.state, content)


class ModuleDocstrings(SphinxDirective):
    """``.. module-docstrings:: <package>``: the docstring of every module that defines a name of the package's
    ``__all__``, one section each (for the layers: the equations and readings each module opens with);
    ``:exclude:`` leaves modules out (those whose method has a page of its own)."""

    required_arguments = 1
    option_spec = {"exclude": directives.unchanged}

    def run(self):
        package = importlib.import_module(self.arguments[0])
        modules = []
        excluded = set((self.options.get("exclude") or "").split())
        for name in public_names(package):
            module = inspect.getmodule(getattr(package, name))
            if module is None or module.__name__ in excluded or module.__name__ == package.__name__:
                continue
            if module.__name__ not in modules:
                modules.append(module.__name__)
        lines = []
        for modname in sorted(modules):
            title = f"``{modname}``"
            lines += [title, "-" * len(title), "", f".. automodule:: {modname}", "   :no-index:", ""]
        content = StringList(lines, source=f"{self.get_source_info()[0]} (module-docstrings)")
        return nested_parse_to_nodes(self.state, content, allow_section_headings=True)


def drop_inherited_docstring(app, what, name, obj, options, lines):
    """A constant's "docstring" that is its type's (``dict``, ``tuple``, ``numpy.dtype``) is not about it."""
    if what in ("data", "attribute") and not inspect.isclass(obj) and not inspect.isroutine(obj):
        type_doc = " ".join((inspect.getdoc(type(obj)) or "").split())
        if lines and type_doc and " ".join(" ".join(lines).split()) == type_doc:
            lines[:] = []


DOCS_LINK = re.compile(r"(?<![`<\w/])docs/([\w/]+)\.md(?:#([\w-]+))?")


def link_documentation_paths(app, what, name, obj, options, lines):
    """The code cites its readings as paths (``docs/methods/san.md#san-alignment``, checked by
    tests/test_docstring_examples.py); on the site they become links to that page and section."""
    def link(match):
        page, anchor = match.group(1), match.group(2)
        return f":ref:`{match.group(0)} <{anchor}>`" if anchor else f":doc:`{match.group(0)} </{page}>`"

    lines[:] = [DOCS_LINK.sub(link, line) for line in lines]


def init_signature(app, what, name, obj, options, signature, return_annotation):
    """Keras' ``Layer.__new__(*args, **kwargs)`` hides a layer's arguments: show ``__init__``'s instead."""
    if what in ("class", "exception") and inspect.isclass(obj) and signature in ("(*args, **kwargs)", None):
        try:
            init = inspect.signature(obj.__init__)
        except (TypeError, ValueError):
            return None
        parameters = list(init.parameters.values())[1:]  # without self
        return str(init.replace(parameters=parameters, return_annotation=inspect.Signature.empty)), None
    return None


def public_bases(app, name, obj, options, bases):
    """Private bases (a leading underscore) are replaced by their own bases, recursively."""
    result = []
    pending = list(bases)
    while pending:
        base = pending.pop(0)
        if getattr(base, "__name__", "").startswith("_"):
            pending[:0] = list(base.__bases__)
        elif base not in result:
            result.append(base)
    bases[:] = result


def resolve_by_name(app, env, node, contnode):
    """An unqualified Python reference that names exactly one documented object resolves to it."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target or "." in target.strip("~."):
        return None
    name = target.strip("~.")
    domain = env.domains["py"]
    found = {(entry.docname, entry.node_id) for fullname, entry in domain.objects.items()
             if fullname == name or fullname.endswith("." + name)}
    if len(found) != 1:
        return None
    docname, node_id = found.pop()
    return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode, name)


def setup(app):
    app.add_directive("api-module", ApiModule)
    app.add_directive("module-docstrings", ModuleDocstrings)
    app.connect("autodoc-process-docstring", drop_inherited_docstring, priority=100)  # before napoleon
    app.connect("autodoc-process-docstring", link_documentation_paths)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("autodoc-process-signature", init_signature)
    app.connect("missing-reference", resolve_by_name)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
