"""A report from records, in four shapes: Markdown, a LaTeX fragment, a complete beamer deck,
and a self-contained HTML page.

Every lab gets its slide table (the columns its ``slides.toml`` declares, a row per
measurement, mean ± 95 % CI under ``--repeat``); with several kernels, one table of the same
measurements side by side.  The beamer deck (``kernel-lab report --format beamer --out DIR``)
compiles with pdflatex as it is: a title frame (kernels, date, run id), for each lab its
tables split across frames at a readable size (never shrunk), its topology diagram and its
plots.  ``--format latex`` is the same tables as frames to paste into one's own deck.  LaTeX
special characters are escaped exactly once.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
import re

from tabulate import tabulate

from . import failures, presentation
from .summary import Summary, summarize
from .tables import Run, details, labs_of, load_runs, splat_note, verdict_of

LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "±": r"\ensuremath{\pm}", "×": r"\ensuremath{\times}",
                  "→": r"\ensuremath{\rightarrow}", "≤": r"\ensuremath{\le}", "≥": r"\ensuremath{\ge}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def latex_ident(text: str) -> str:
    """A name such as ``ingress_ifb`` in typewriter, its underscores real characters (the
    default font draws \\_ as a rule, which a PDF's text then lacks)."""
    if re.fullmatch(r"[\w.+-]+", text):
        return f"\\texttt{{\\detokenize{{{text}}}}}"
    return latex_escape(text)


def lab_tables(runs: list[Run]) -> list[dict]:
    """Per lab: its presentation, and its slide table (one run) or cross-kernel table."""
    out = []
    for lab in labs_of(runs):
        present = [run for run in runs if any(r["lab"] == lab for r in run.records)]
        pres = presentation.load(lab, records=[r for run in present for r in run.records])
        if len(present) == 1:
            headers, rows = presentation.table(pres, present[0].records, verdict_of)
            where = f"kernel {present[0].label}"
        else:
            headers, rows = presentation.cross_kernel(pres, present, verdict_of)
            where = (f"{pres.shown} on " if pres.shown else "") + \
                f"{len(present)} kernels side by side"
        records = [r for run in present for r in run.records if r["lab"] == lab]
        nics = next((r["state"]["nics"] for r in records if r.get("state", {}).get("nics")), None)
        if nics:  # a figure over real NICs must never read as a veth figure
            where += ", over NICs " + " + ".join(
                f"{n['driver']}{' ' + str(n['speed_mbps']) + ' Mb/s' if n.get('speed_mbps') else ''}"
                for n in nics)
        busy = next((r["conditions"] for r in records
                     if r.get("conditions", {}).get("oversubscribed")), None)
        if busy:  # a figure taken while other cells shared the CPUs says so on the slide
            where += (f", host oversubscribed ({busy['jobs']} cells at once on "
                      f"{busy['host_cpus']} CPUs)")
        out.append({"lab": lab, "pres": pres, "headers": headers, "rows": rows, "where": where,
                    "runs": present, "splats": splat_note(records)})
    return out


ATTENTION_SHOWN = 4  # lines of "needs a look" on the summary slide; the rest: the failure view


def summary_markdown(s: Summary) -> str:
    rows = [[lab] + [s.cell(lab, k) for k in s.kernels] for lab in s.labs]
    out = [f"**{s.line()}**\n", tabulate(rows, headers=["lab"] + s.kernels, tablefmt="github",
                                          disable_numparse=True) + "\n"]
    out += [f"- {h}" for h in s.headlines]
    out += [f"- **{a}**" for a in s.attention]
    return "\n".join(out) + "\n"


def markdown(runs: list[Run], problems: list[str]) -> str:
    parts = ["## What the run found\n", summary_markdown(summarize(runs))]
    for t in lab_tables(runs):
        parts.append(f"### {t['pres'].title} ({t['lab']}, {t['where']})\n")
        if t["pres"].finding:
            parts.append(f"{t['pres'].finding}\n")
        parts.append(tabulate(t["rows"], headers=t["headers"], tablefmt="github",
                              disable_numparse=True) + "\n")
        if t["splats"]:
            parts.append(f"Kernel splats: {t['splats']}\n")
    failed = failures.markdown([r for run in runs for r in run.records])
    if failed:
        parts.append("### Failures and regressions\n\n" + failed)
    return "\n".join(parts) + "".join(f"\nskipped file: {p}" for p in problems)


def _latex_table(headers, rows) -> str:
    body = tabulate([[latex_escape(c) for c in row] for row in rows],
                    headers=[latex_escape(h) for h in headers], tablefmt="latex_raw",
                    colalign=["left"] * len(headers), disable_numparse=True)
    body = body.replace("\\hline", "\\midrule").replace("\\midrule\n", "\\toprule\n", 1)
    head, _, tail = body.rpartition("\\midrule")
    return head + "\\bottomrule" + tail


def _chunks(rows, n):
    return [rows[i:i + n] for i in range(0, len(rows), n)] or [[]]


def latex_frames(runs: list[Run], figures: dict | None = None) -> str:
    """Beamer frames: each lab's table, split across frames of at most ``rows_per_frame``
    rows in \\footnotesize, then its figures."""
    frames = []
    figures = figures or {}
    for t in lab_tables(runs):
        chunks = _chunks(t["rows"], t["pres"].rows_per_frame)
        sep = 3 if len(t["headers"]) > 5 else 4  # a wide table's columns sit closer
        for i, chunk in enumerate(chunks):
            part = f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else ""
            finding = (f"\\par\\smallskip{{\\scriptsize {latex_escape(t['pres'].finding)}}}"
                       if t["pres"].finding and i == 0 else "")
            frames.append(
                f"\\begin{{frame}}{{{latex_escape(t['pres'].title)}{part}}}\n"
                f"\\framesubtitle{{{latex_ident(t['lab'])}, {latex_escape(t['where'])}}}\n"
                f"\\centering\\footnotesize\\setlength{{\\tabcolsep}}{{{sep}pt}}\n"
                f"{_latex_table(t['headers'], chunk)}\n{finding}\n"
                "\\end{frame}\n")
        for title, path in figures.get(t["lab"], []):
            frames.append(f"\\begin{{frame}}{{{latex_escape(title)}}}\n\\centering\n"
                          f"\\includegraphics[width=\\textwidth,height=0.78\\textheight,"
                          f"keepaspectratio]{{{os.path.basename(path)}}}\n\\end{{frame}}\n")
    return "\n".join(frames)


def summary_frame(s: Summary) -> str:
    """The frame after the title: the labs x kernels matrix, each lab's finding in a sentence
    with its number, and what needs a look (failures, regressions, splats)."""
    matrix = _latex_table(["lab"] + s.kernels,
                          [[lab] + [s.cell(lab, k) for k in s.kernels] for lab in s.labs])
    items = [latex_escape(h) for h in s.headlines]
    shown = s.attention[:ATTENTION_SHOWN]
    items += [f"\\textcolor{{red!70!black}}{{{latex_escape(a[:160])}}}" for a in shown]
    if len(s.attention) > len(shown):
        items.append(f"and {len(s.attention) - len(shown)} more: see the report's failures")
    return ("\\begin{frame}{What the run found}\n"
            f"\\framesubtitle{{{latex_escape(s.line())}}}\n"
            "\\centering\\scriptsize\\setlength{\\tabcolsep}{4pt}\n"
            f"{matrix}\n\\par\\medskip\\raggedright\n"
            "\\begin{itemize}\\setlength{\\itemsep}{1pt}\n"
            + "".join(f"\\item {item}\n" for item in items) +
            "\\end{itemize}\n\\end{frame}\n\n")


def beamer(runs: list[Run], figures: dict | None = None) -> str:
    kernels = ", ".join(run.label for run in runs)
    run_ids = ", ".join(sorted({run.run_id for run in runs}))
    return ("\\documentclass[aspectratio=169]{beamer}\n"
            "\\usepackage[utf8]{inputenc}\n"
            "\\usepackage{booktabs}\n\\usepackage{graphicx}\n\\usepackage{xcolor}\n"
            "\\setbeamertemplate{navigation symbols}{}\n"
            f"\\title{{kernel-lab: {', '.join(latex_ident(lab) for lab in labs_of(runs))}}}\n"
            f"\\subtitle{{{latex_escape(kernels)}}}\n"
            f"\\date{{{_dt.date.today().isoformat()}, run {latex_escape(run_ids)}}}\n"
            "\\begin{document}\n\\begin{frame}\n\\titlepage\n\\end{frame}\n\n"
            + summary_frame(summarize(runs)) + latex_frames(runs, figures) + "\\end{document}\n")


def _img(path: str, alt: str) -> str:
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    kind = "svg+xml" if path.endswith(".svg") else "png"
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/{kind};base64,{data}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>\n")


def summary_html(s: Summary) -> str:
    """The first screen: what the run found."""
    rows = [[lab] + [s.cell(lab, k) for k in s.kernels] for lab in s.labs]
    return ("<section class=summary><h2>What the run found</h2>"
            f"<p class=finding>{html.escape(s.line())}</p>"
            + tabulate(rows, headers=["lab"] + s.kernels, tablefmt="html", disable_numparse=True)
            + "<ul>" + "".join(f"<li>{html.escape(h)}</li>" for h in s.headlines)
            + "".join(f"<li class=problem>{html.escape(a)}</li>" for a in s.attention)
            + "</ul></section>\n")


def html_page(runs: list[Run], figures: dict | None = None, problems=(),
              out_dir: str | None = None) -> str:
    """The page; ``out_dir``, where it is written, makes its links to capture files relative
    (else they name the run folders as given)."""
    figures = figures or {}
    parts = [summary_html(summarize(runs))]
    for t in lab_tables(runs):
        parts.append(f"<section><h2>{html.escape(t['pres'].title)}</h2>"
                     f"<p class=where>{html.escape(t['lab'])}, {html.escape(t['where'])}</p>")
        if t["pres"].finding:
            parts.append(f"<p class=finding>{html.escape(t['pres'].finding)}</p>")
        parts.append(tabulate(t["rows"], headers=t["headers"], tablefmt="html",
                              disable_numparse=True))
        if t["splats"]:
            parts.append(f"<p class=problem>kernel splats: {html.escape(t['splats'])}</p>")
        parts += [_img(path, title) for title, path in figures.get(t["lab"], [])]
        rec = presentation.drawn_record(t["pres"], [r for run in t["runs"] for r in run.records],
                                        "recipe")
        if rec:  # the lab's presentation, loaded once for its table, picks whose recipe
            parts.append(f"<details><summary>the recipe that ran, as ip/tc commands "
                         f"({html.escape(rec['test_id'].split('::')[-1])})</summary><pre>"
                         f"{html.escape(chr(10).join(rec['state']['recipe']))}</pre></details>")
        for run in t["runs"]:
            headers, rows = details([r for r in run.records if r["lab"] == t["lab"]])
            parts.append(f"<details><summary>every measurement on {html.escape(run.label)}"
                         f"</summary>{tabulate(rows, headers=headers, tablefmt='html')}</details>")
        parts.append("</section>")
    folder_of = {id(r): run.folder for run in runs for r in run.records}
    parts.append(failures.html_section(
        [r for run in runs for r in run.records],
        lambda r: os.path.relpath(folder_of[id(r)], out_dir) if out_dir else folder_of[id(r)]))
    notes = "".join(f"<p class=problem>skipped file: {html.escape(p)}</p>\n" for p in problems)
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>kernel-lab report</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;"
            "padding:4px 8px;font-size:14px}th{background:#e8eef7}img{max-width:100%}"
            ".problem{color:#a00}.where{color:#555}.finding{font-weight:bold}"
            "details td,details th{font-size:11px}figcaption{font-size:14px}</style></head><body>"
            f"<h1>kernel-lab report</h1><p>{html.escape(', '.join(r.label for r in runs))}</p>\n"
            f"{''.join(parts)}{notes}</body></html>\n")


def render(runs: list[Run], fmt: str = "md", figures: dict | None = None) -> str:
    """The report as text in ``fmt``: md, latex (frames), beamer (a whole deck) or html."""
    problems = [p for run in runs for p in run.problems]
    if fmt == "md":
        return markdown(runs, problems)
    if fmt == "latex":
        return latex_frames(runs, figures) + "".join(f"% skipped file: {latex_escape(p)}\n"
                                                     for p in problems)
    if fmt == "beamer":
        return beamer(runs, figures)
    return html_page(runs, figures, problems)


def render_run(run_dir: str, fmt: str = "md", validate: bool = True) -> str:
    return render(load_runs([run_dir], validate=validate), fmt)
