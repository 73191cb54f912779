#!/usr/bin/env python3
"""Put pages of a run's deck into the README, rendered from its records, so they cannot go
stale: the title, what the run found, the shaping plot and one lab's topology.

    .venv/bin/python scripts/readme_slides.py RUN [--results results] [--out docs/images]

Renders ``kernel-lab report RUN --format beamer``, compiles it with pdflatex, renders the
chosen frames with pdftoppm into ``docs/images/slide-<name>.png`` and rewrites the README
between ``<!-- slides: begin -->`` and ``<!-- slides: end -->`` with the images and the run
id they came from.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.report.files import write_report  # noqa: E402
from harness.report.tables import load_runs, resolve_run  # noqa: E402

BEGIN, END = "<!-- slides: begin -->", "<!-- slides: end -->"
#: name -> (a pattern of the frame's title in deck.tex, what the image shows)
PAGES = {
    "title": (r"^$", "the title frame: labs, kernels, date and run"),
    "summary": (r"^What the run found", "what the run found: labs x kernels, each lab's finding "
                                        "with its number, what needs a look"),
    "ingress_ifb-error": (r"^ingress\\_ifb: shaping error", "ingress_ifb: shaping error against "
                                                           "the configured rate, scaled to the data"),
    "gre_mtu-topology": (r"^gre\\_mtu: what the lab built", "gre_mtu: what the lab built, read "
                                                           "back over netlink; the MTU that varies "
                                                           "by test is marked"),
}


def frame_titles(tex: str) -> list[str]:
    """The title of each frame, in page order (one page per frame: tables are split, never
    overflowing)."""
    return [m.group(1) if m else "" for m in
            (re.match(r"\{(.*?)\}\n", part) for part in tex.split("\\begin{frame}")[1:])]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--results", default=os.path.join(ROOT, "results"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "images"))
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    args = ap.parse_args()
    folder = resolve_run(args.results, args.run)
    run_id = os.path.basename(os.path.realpath(folder))
    runs = load_runs([folder])
    with tempfile.TemporaryDirectory(prefix="kernel-lab-slides-") as tmp:
        write_report(runs, tmp, formats=("beamer",))
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "deck.tex"],
                       cwd=tmp, check=True, capture_output=True, timeout=600)
        titles = frame_titles(open(os.path.join(tmp, "deck.tex")).read())
        os.makedirs(args.out, exist_ok=True)
        shown = []
        for name, (pattern, alt) in PAGES.items():
            page = next((i + 1 for i, t in enumerate(titles) if re.search(pattern, t)), None)
            if page is None:
                print(f"{name}: no such frame in the deck of {run_id}", file=sys.stderr)
                continue
            subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", "-f", str(page),
                            "-l", str(page), "deck.pdf", name], cwd=tmp, check=True, timeout=120)
            shutil.copy(os.path.join(tmp, f"{name}.png"),
                        os.path.join(args.out, f"slide-{name}.png"))
            shown.append(f"![{alt}]({os.path.relpath(args.out, os.path.dirname(args.readme))}"
                         f"/slide-{name}.png)")
    kernels = ", ".join(run.label for run in runs)
    block = (f"{BEGIN}\nPages of the deck of run `{run_id}` ({kernels}), rendered by "
             f"`scripts/readme_slides.py {run_id}`:\n\n" + "\n".join(shown) + f"\n{END}")
    text = open(args.readme).read()
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        print(f"{args.readme} has no {BEGIN} ... {END}: the block is", file=sys.stderr)
        print(block)
        return 1
    with open(args.readme, "w") as f:
        f.write(text)
    print(f"{len(shown)} pages of {run_id} into {args.out} and {args.readme}")
    return 0 if len(shown) == len(PAGES) else 1


if __name__ == "__main__":
    sys.exit(main())
