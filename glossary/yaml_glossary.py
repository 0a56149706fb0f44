"""The glossary: ``glossary/terms.yml`` → a Sphinx glossary page, validated.

Each entry of the YAML list has

``term`` (required)
    the headword, as chapters write it in ``{term}`...```;
``aliases`` (optional list)
    other names that link to the same entry;
``definition`` (required, MyST: math allowed)
    the book's own definition;
``related`` (optional list)
    other terms (or aliases) of the glossary;
``sections`` (required, non-empty list)
    labels of the sections that teach the term, e.g. ``p1-1.3``.

:func:`load_terms` parses and checks the file and raises
:class:`GlossaryError`, whose message names the file, the line and the
problem. As a Sphinx extension (``setup``) it adds the ``yaml-glossary``
directive that renders the entries, loads the file when the build starts, and
after all pages are read checks that every section label exists, so a
malformed ``terms.yml`` fails ``jupyter-book build``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

try:  # Sphinx is only needed when building the book.
    from sphinx.errors import SphinxError as _Base
except ImportError:  # pragma: no cover
    _Base = Exception

REQUIRED = ("term", "definition", "sections")
OPTIONAL = ("aliases", "related")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class GlossaryError(_Base):
    """One or more problems in the glossary file, each as ``path:line: message``."""

    category = "Glossary error"

    def __init__(self, problems: list[tuple[str, int, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{p}:{line}: {msg}" for p, line, msg in problems))


@dataclass(frozen=True)
class Entry:
    term: str
    aliases: tuple[str, ...]
    definition: str
    related: tuple[str, ...]
    sections: tuple[str, ...]
    line: int  # where the entry starts in the YAML file (1-based)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.term, *self.aliases)


def _scalar_text(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
        return node.value
    return None


def _string_list(node: yaml.Node) -> list[str] | None:
    if not isinstance(node, yaml.SequenceNode):
        return None
    items = [_scalar_text(n) for n in node.value]
    return None if any(i is None for i in items) else items


def parse_terms(text: str, path: str = "glossary/terms.yml") -> list[Entry]:
    """Parse and validate glossary YAML; raise :class:`GlossaryError` listing every problem."""
    problems: list[tuple[str, int, str]] = []

    def bad(line: int, msg: str) -> None:
        problems.append((path, line, msg))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and cmark is not None and cmark.line + 1 != line:
            reason += f" ({context} that starts at line {cmark.line + 1})"
        raise GlossaryError([(path, line, f"malformed YAML: {reason}")]) from None
    if root is None:
        raise GlossaryError([(path, 1, "the file is empty; expected a list of entries")])
    if not isinstance(root, yaml.SequenceNode):
        raise GlossaryError([(path, root.start_mark.line + 1,
                              "expected a list of entries (each starting with '- term: ...')")])

    entries: list[Entry] = []
    for node in root.value:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            bad(line, "an entry must be a mapping with fields term, definition, sections (and aliases, related)")
            continue
        fields: dict[str, tuple[int, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key, kline = _scalar_text(key_node), key_node.start_mark.line + 1
            if key is None:
                bad(kline, "a field name must be text")
            elif key in fields:
                bad(kline, f"field '{key}' given twice in one entry")
            elif key not in REQUIRED + OPTIONAL:
                bad(kline, f"unknown field '{key}'; allowed: {', '.join(REQUIRED + OPTIONAL)}")
            else:
                fields[key] = (kline, value_node)
        label = _scalar_text(fields["term"][1]) if "term" in fields else None
        who = f"entry '{label}'" if label else "entry"
        for key in REQUIRED:
            if key not in fields:
                bad(line, f"{who}: missing required field '{key}'")
        values: dict[str, object] = {}
        for key in ("term", "definition"):
            if key in fields:
                kline, vnode = fields[key]
                value = _scalar_text(vnode)
                if value is None:
                    bad(kline, f"{who}: '{key}' must be text")
                elif not value.strip():
                    bad(kline, f"{who}: '{key}' is empty")
                else:
                    values[key] = value.strip()
        for key in ("aliases", "related", "sections"):
            if key in fields:
                kline, vnode = fields[key]
                items = _string_list(vnode)
                if items is None:
                    bad(kline, f"{who}: '{key}' must be a list of text items, e.g. [a, b]")
                    continue
                if any(not i.strip() for i in items):
                    bad(kline, f"{who}: '{key}' has an empty item")
                    continue
                if key == "sections":
                    if not items:
                        bad(kline, f"{who}: 'sections' is empty; name at least one section label that teaches the term")
                    for lab in items:
                        if not _LABEL.match(lab):
                            bad(kline, f"{who}: '{lab}' is not a section label (letters, digits, '.', '-', '_')")
                values[key] = tuple(i.strip() for i in items)
        if all(k in values for k in REQUIRED):
            entries.append(Entry(values["term"], values.get("aliases", ()), values["definition"],
                                 values.get("related", ()), values["sections"], line))

    # Every name (term or alias) must be unique, ignoring case, as Sphinx matches terms.
    seen: dict[str, Entry] = {}
    for e in entries:
        for name in e.names:
            other = seen.get(name.lower())
            if other is not None and other is not e:
                bad(e.line, f"'{name}' is defined twice: here and in entry '{other.term}' at line {other.line}")
            elif other is e:
                bad(e.line, f"entry '{e.term}' lists '{name}' twice")
            else:
                seen[name.lower()] = e
    for e in entries:
        for r in e.related:
            target = seen.get(r.lower())
            if target is None:
                bad(e.line, f"entry '{e.term}': related term '{r}' is not in the glossary")
            elif target is e:
                bad(e.line, f"entry '{e.term}': lists itself as related")
    if problems:
        raise GlossaryError(sorted(problems, key=lambda p: p[1]))
    return entries


def load_terms(path: str | Path, display: str | None = None) -> list[Entry]:
    """Read and validate a glossary file (see :func:`parse_terms`).

    ``display`` is the name used in messages (default: ``path`` as given).
    """
    p, name = Path(path), display or str(path)
    if not p.is_file():
        raise GlossaryError([(name, 0, "glossary file not found")])
    return parse_terms(p.read_text(encoding="utf-8"), name)


def check_sections(entries: list[Entry], known_labels: set[str], path: str) -> list[tuple[str, int, str]]:
    """Problems for each section label that names no section of the book."""
    return [(path, e.line, f"entry '{e.term}': section label '{s}' does not exist in the book")
            for e in entries for s in e.sections if s.lower() not in known_labels]


def to_myst(entries: list[Entry]) -> str:
    """The entries as a MyST ``{glossary}`` directive, each linking to its related terms and sections."""
    lines = ["```{glossary}", ":sorted:", ""]
    for e in entries:
        lines.extend(e.names)
        body = e.definition.splitlines() + [""]
        tail = []
        if e.related:
            tail.append("**See also:** " + ", ".join(f"{{term}}`{r}`" for r in e.related) + ".")
        tail.append("**Taught in:** " + ", ".join(f"{{ref}}`{s}`" for s in e.sections) + ".")
        body.append(" ".join(tail))
        lines.extend(("   " + b) if b else "" for b in body)
        lines.append("")
    lines.append("```")
    return "\n".join(lines)


# ---------------------------------------------------------------- Sphinx side

def setup(app):  # pragma: no cover - exercised by the book build
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    app.add_config_value("glossary_terms_file", "glossary/terms.yml", "env")

    class YamlGlossary(SphinxDirective):
        """``{yaml-glossary}``: render every entry of the configured terms file."""

        has_content = False

        def run(self):
            path = Path(self.env.srcdir) / self.config.glossary_terms_file
            self.env.note_dependency(str(path))
            text = to_myst(load_terms(path, self.config.glossary_terms_file))
            container = nodes.container()
            self.state.nested_parse(StringList(text.splitlines(), source=str(path)), 0, container)
            return container.children

    def load(app):
        path = Path(app.srcdir) / app.config.glossary_terms_file
        app.env.glossary_entries = load_terms(path, app.config.glossary_terms_file)

    def check_labels(app, env):
        entries = getattr(env, "glossary_entries", None) or load_terms(
            Path(app.srcdir) / app.config.glossary_terms_file, app.config.glossary_terms_file)
        known = {k.lower() for k in env.domaindata["std"]["labels"]}
        problems = check_sections(entries, known, app.config.glossary_terms_file)
        if problems:
            raise GlossaryError(problems)

    # Backlinks: every {term} role in the book is recorded with the section it
    # sits in (at read time, before references are resolved), and each glossary
    # entry gets a "Used in" line linking those sections (when its page is written).
    def record_uses(app, doctree):
        from sphinx import addnodes

        uses = []
        for ref in doctree.findall(addnodes.pending_xref):
            if ref.get("refdomain") != "std" or ref.get("reftype") != "term":
                continue
            section = ref.parent
            while section is not None and not isinstance(section, nodes.section):
                section = section.parent
            if section is not None and section["ids"]:
                uses.append((ref["reftarget"].lower(), section["ids"][0], section[0].astext()))
        if not hasattr(app.env, "glossary_uses"):
            app.env.glossary_uses = {}
        app.env.glossary_uses[app.env.docname] = uses

    def purge_uses(app, env, docname):
        getattr(env, "glossary_uses", {}).pop(docname, None)

    def merge_uses(app, env, docnames, other):
        if not hasattr(env, "glossary_uses"):
            env.glossary_uses = {}
        env.glossary_uses.update({d: other.glossary_uses[d] for d in docnames if d in other.glossary_uses})

    def add_backlinks(app, doctree, docname):
        from sphinx import addnodes

        uses = getattr(app.env, "glossary_uses", {})
        for glossary in doctree.findall(addnodes.glossary):
            for item in glossary.findall(nodes.definition_list_item):
                names = {t.astext().lower() for t in item.findall(nodes.term)}
                places = {}                                     # (doc, section id) -> title, in reading order
                for doc in sorted(uses):
                    if doc == docname:
                        continue
                    for term, section_id, title in uses[doc]:
                        if term in names:
                            places.setdefault((doc, section_id), title)
                if not places:
                    continue
                para = nodes.paragraph()                 # Used in: <chapter> (<section>, <section>); ...
                para += nodes.strong(text="Used in: ")
                docs = list(dict.fromkeys(doc for doc, _ in places))
                for i, doc in enumerate(docs):
                    if i:
                        para += nodes.Text("; ")
                    para += nodes.Text(app.env.titles[doc].astext() + " (")
                    for j, section_id in enumerate(sid for d, sid in places if d == doc):
                        if j:
                            para += nodes.Text(", ")
                        uri = app.builder.get_relative_uri(docname, doc) + "#" + section_id
                        para += nodes.reference("", places[(doc, section_id)], internal=True, refuri=uri)
                    para += nodes.Text(")")
                para += nodes.Text(".")
                item.next_node(nodes.definition).append(para)

    app.add_directive("yaml-glossary", YamlGlossary)
    app.connect("builder-inited", load)
    app.connect("env-check-consistency", check_labels)
    app.connect("doctree-read", record_uses)
    app.connect("env-purge-doc", purge_uses)
    app.connect("env-merge-info", merge_uses)
    app.connect("doctree-resolved", add_backlinks)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
