"""Summary tables of a lab: rows added by its tests, printed at the end of the pytest session
and written to ``results/<run>/<lab>/table.md`` (the plugin does both).

    @pytest.fixture(scope="session")
    def mtu_table():
        return summary.table("gre_mtu", "MTU x tunnel x offloads", HEADERS)

    def test_x(mtu_table): mtu_table.add("gre", 1500, ...)
"""

from __future__ import annotations

import os

from tabulate import tabulate

_TABLES: dict[tuple[str, str], "Table"] = {}


class Table:
    def __init__(self, lab: str, title: str, headers: list[str]):
        self.lab, self.title, self.headers = lab, title, list(headers)
        self.rows: list[list] = []

    def add(self, *row) -> None:
        if len(row) != len(self.headers):
            raise ValueError(f"{self.lab} table row has {len(row)} cells, wants {len(self.headers)}")
        self.rows.append(list(row))

    def render(self, fmt: str = "github") -> str:
        rows = sorted(self.rows, key=lambda r: [str(x) for x in r])
        return tabulate(rows, headers=self.headers, tablefmt=fmt)

    def write(self, run_dir: str) -> str:
        folder = os.path.join(run_dir, self.lab)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "table.md")
        with open(path, "w") as f:
            f.write(f"{self.title}\n\n{self.render()}\n")
        return path


def table(lab: str, title: str, headers: list[str]) -> Table:
    """The session's table ``title`` of ``lab`` (created on first use)."""
    key = (lab, title)
    if key not in _TABLES:
        _TABLES[key] = Table(lab, title, headers)
    return _TABLES[key]


def filled() -> list[Table]:
    return [t for t in _TABLES.values() if t.rows]
