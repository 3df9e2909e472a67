"""The book's chapters and notebooks, and the literal parameters of each notebook."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from ..paths import BOOK

CHAPTER_RE = re.compile(r"^\d\d-[a-z0-9-]+$")


@dataclass(frozen=True)
class NotebookRef:
    chapter: str
    name: str
    source: Path       # the MyST-markdown notebook (jupytext)

    @property
    def twin(self) -> Path:
        """The executed smoke twin committed beside the source."""
        return self.source.with_suffix(".ipynb")

    @property
    def key(self) -> str:
        return f"{self.chapter}/{self.name}"


def is_notebook_source(path: Path) -> bool:
    head = path.read_text(encoding="utf-8")[:600]
    return head.startswith("---") and "jupytext:" in head and "format_name: myst" in head


def chapters(book: Path = BOOK) -> list[str]:
    return sorted(p.name for p in book.iterdir() if p.is_dir() and CHAPTER_RE.match(p.name))


def notebooks(chapter: str | None = None, book: Path = BOOK) -> list[NotebookRef]:
    out = []
    for ch in [chapter] if chapter else chapters(book):
        for p in sorted((book / ch).glob("*.md")):
            if is_notebook_source(p):
                out.append(NotebookRef(ch, p.stem, p))
    return out


def portability_sample(book: Path = BOOK) -> list[NotebookRef]:
    """One notebook per chapter (its last, the one with the most training behind its numbers)
    that ``make test`` replays under a different numeric configuration from the default, so that
    a twin which only replays on its author's machine cannot land."""
    out = []
    for ch in chapters(book):
        refs = notebooks(ch, book)
        if refs:
            out.append(refs[-1])
    return out


def _as_target(target: str, book: Path) -> str:
    """A path to a chapter folder or notebook (``book/00-example/01-probe.md``, what tab
    completion gives, relative or absolute) as ``CHAPTER[/NOTEBOOK]``; other targets unchanged."""
    path = Path(target)
    if path.suffix in (".md", ".ipynb"):
        path = path.with_suffix("")
    parts = path.resolve().parts if path.is_absolute() or path.exists() or path.with_suffix(".md").exists() \
        else path.parts
    if book.name in parts:
        parts = parts[len(parts) - parts[::-1].index(book.name):]
    return "/".join(parts)


def resolve(target: str, book: Path = BOOK) -> list[NotebookRef]:
    """``CHAPTER`` or ``CHAPTER/NOTEBOOK``; the chapter may be given without its number
    (``hypersphere``), the notebook by prefix (``04``). Errors list what is valid."""
    target = _as_target(target, book)
    chapter, _, nb = target.strip("/").partition("/")
    known = chapters(book)
    matches = [c for c in known if c == chapter or c[3:] == chapter]
    if len(matches) != 1:
        raise ValueError(f"unknown chapter {chapter!r}; valid chapters: {', '.join(known)}")
    refs = notebooks(matches[0], book)
    if not nb:
        return refs
    chosen = [r for r in refs if r.name == nb or r.name.startswith(nb + "-") or r.name[3:] == nb]
    if len(chosen) != 1:
        raise ValueError(f"unknown notebook {nb!r} in {matches[0]}; valid notebooks: "
                         f"{', '.join(r.name for r in refs)}")
    return chosen


def parameters(ref_or_nb) -> dict:
    """The literal assignments of the notebook's cell tagged ``parameters``."""
    import jupytext

    nb = jupytext.read(ref_or_nb.source) if isinstance(ref_or_nb, NotebookRef) else ref_or_nb
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            params = {}
            for node in ast.parse(cell.source).body:
                if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                        and isinstance(node.targets[0], ast.Name)):
                    raise ValueError(f"the parameters cell may hold only `name = literal` lines; "
                                     f"found: {ast.unparse(node)}")
                params[node.targets[0].id] = ast.literal_eval(node.value)
            return params
    raise ValueError("the notebook has no code cell tagged 'parameters'")


CHOICES_RE = re.compile(r"^\s*(\w+)\s*=.*#\s*one of:\s*(.+?)\s*$")


def parameter_choices(ref_or_nb) -> dict[str, tuple]:
    """Enumerated options declared in the parameters cell: ``dataset = "cifar10"  # one of: cifar10, cifar100``."""
    import jupytext

    nb = jupytext.read(ref_or_nb.source) if isinstance(ref_or_nb, NotebookRef) else ref_or_nb
    choices = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            for line in cell.source.splitlines():
                m = CHOICES_RE.match(line)
                if m:
                    options = []
                    for item in m.group(2).split(","):
                        try:
                            options.append(ast.literal_eval(item.strip()))
                        except (ValueError, SyntaxError):
                            options.append(item.strip())
                    choices[m.group(1)] = tuple(options)
    return choices
