"""Sphinx extension for the book: the ``results-table`` directive of each chapter's index.

In ``book/NN-slug/index.md``::

    ```{results-table}
    notebook: 04-direct-optimisation
    rows:
      - metric: probe_acc_align_uniform
        label: "L_align + L_uniform, linear probe top-1 (%)"
        paper: "83.2 (STL-10)"
      - metric: top1_supcon
        parameters: {dataset: cifar100}     # records of that variant only (default: none)
    ```

renders one row per metric: the paper's number, then our smoke number (read from the executed
smoke twin, i.e. exactly what nbval validated), then the recorded ``short`` and ``paper`` runs
(mean ± std over the seeds under ``results/``), or the command that would produce them.
Numbers are never typed into the page.
"""
from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive

from .paths import BOOK
from .run.records import load_records, results_dir, summarize
from .run.report import figure_from_notebook, metrics_from_notebook

FIGURES_FOLDER = "_figures"     # book/<chapter>/_figures: generated at build time, git-ignored


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "—" if value is None else str(value)


def results_rows(chapter: str, notebook: str, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of a chapter's results table (also used by tests)."""
    twin = BOOK / chapter / f"{notebook}.ipynb"
    smoke = metrics_from_notebook(twin) if twin.exists() else {}
    header = ["", "paper", "ours: smoke (CPU)", "ours: short (1 GPU)", "ours: paper recipe"]
    body = []
    for row in rows:
        metric = row["metric"]
        smoke_cell = _fmt(smoke.get(metric)) if not row.get("parameters") else "—"   # the twin runs the defaults
        cells = [row.get("label", metric), str(row.get("paper", "—")), smoke_cell]
        for scale in ("short", "paper"):
            values = [r["metrics"][metric] for r in load_records(chapter, notebook, scale, row.get("parameters"))
                      if isinstance(r.get("metrics", {}).get(metric), (int, float))]
            cells.append(summarize(values) if values else "not run")
        body.append(cells)
    return header, body


class _ChapterDirective(Directive):
    """A YAML body naming a notebook of the page's chapter; the page is rebuilt when its twin or
    its records change."""

    has_content = True
    required: tuple[str, ...] = ("notebook",)
    usage = ""

    def spec(self) -> tuple[dict, str]:
        import yaml

        spec = yaml.safe_load("\n".join(self.content)) or {}
        if any(key not in spec for key in self.required):
            raise self.error(self.usage)
        env = self.state.document.settings.env
        chapter = Path(env.docname).parent.name
        env.note_dependency(str(BOOK / chapter / f"{spec['notebook']}.ipynb"))
        for p in (results_dir() / chapter / spec["notebook"]).glob("*.json"):
            env.note_dependency(str(p))
        return spec, chapter


class ResultsTable(_ChapterDirective):
    required = ("notebook", "rows")
    usage = "results-table needs `notebook:` and `rows:` (each with `metric:`)"

    def run(self):
        spec, chapter = self.spec()
        header, body = results_rows(chapter, spec["notebook"], spec["rows"])
        table = nodes.table(classes=["results-table"])
        group = nodes.tgroup(cols=len(header))
        table += group
        for _ in header:
            group += nodes.colspec(colwidth=1)

        def row_node(cells, tag):
            row = nodes.row()
            for c in cells:
                entry = nodes.entry()
                entry += nodes.paragraph(text=c)
                row += entry
            return row

        thead = nodes.thead()
        thead += row_node(header, "th")
        tbody = nodes.tbody()
        for cells in body:
            tbody += row_node(cells, "td")
        group += thead
        group += tbody
        missing = "not run" in sum(body, [])
        out = [table]
        if missing:
            note = nodes.paragraph()
            note += nodes.Text("“not run”: no record yet. Produce one on a GPU with ")
            note += nodes.literal(text=f"reprobook run {chapter}/{spec['notebook']} --scale short --seed 0")
            note += nodes.Text("; the record lands in ")
            note += nodes.literal(text=f"results/{chapter}/{spec['notebook']}/")
            note += nodes.Text(" and appears here at the next build.")
            out.append(note)
        return out


def strongest_figure(chapter: str, notebook: str, name: str) -> tuple[bytes | None, str]:
    """The PNG of key figure ``name`` from the strongest run available, and its label.

    paper > short > smoke: the newest record of the highest scale (default parameters) that
    kept the figure, labelled with its scale, seed, date, commit, device and wall time; else the
    smoke twin's figure; else ``(None, reason)``.
    """
    for scale in ("paper", "short"):
        records = [r for r in load_records(chapter, notebook, scale) if name in r.get("figures", {})]
        if records:
            r = records[-1]
            png = results_dir() / chapter / notebook / r["figures"][name]
            if png.exists():
                device = r.get("device", {})
                where = device.get("gpu") or f"CPU ({device.get('cpu', '?')})"
                commit = (r.get("git", {}).get("commit") or "?")[:7]
                label = (f"{scale} run, seed {r['seed']}, {r.get('date', '?')[:10]}, commit {commit}, "
                         f"{where}, {r.get('wall_s', 0):.0f} s")
                return png.read_bytes(), label
    twin = BOOK / chapter / f"{notebook}.ipynb"
    png = figure_from_notebook(twin, name) if twin.exists() else None
    if png is None:
        return None, f"{notebook} reports no figure named {name!r} (report_figure)"
    return png, "smoke run (CPU, the executed twin that nbval checks); no short or paper run recorded yet"


class ResultsFigure(_ChapterDirective):
    """``{results-figure}`` with ``notebook:``, ``figure:`` and an optional ``caption:``."""

    required = ("notebook", "figure")
    usage = "results-figure needs `notebook:` and `figure:` (a name given to report_figure)"

    def run(self):
        spec, chapter = self.spec()
        png, label = strongest_figure(chapter, spec["notebook"], spec["figure"])
        if png is None:
            raise self.error(label)
        folder = BOOK / chapter / FIGURES_FOLDER
        folder.mkdir(exist_ok=True)
        target = folder / f"{spec['notebook']}-{spec['figure']}.png"
        if not target.exists() or target.read_bytes() != png:
            target.write_bytes(png)
        figure = nodes.figure(classes=["results-figure"])
        figure += nodes.image(uri=f"{FIGURES_FOLDER}/{target.name}", alt=spec.get("caption", spec["figure"]))
        caption = nodes.caption()
        caption += nodes.Text((spec["caption"] + " — " if spec.get("caption") else "") + label + ".")
        figure += caption
        return [figure]


def setup(app):
    app.add_directive("results-table", ResultsTable)
    app.add_directive("results-figure", ResultsFigure)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
