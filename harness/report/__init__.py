"""report: slide-ready tables and plots from records (never re-runs anything).

Owns the tables (Markdown, LaTeX, HTML through tabulate) and the plots (matplotlib).  It imports
``harness.results`` and below.
"""
