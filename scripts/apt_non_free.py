"""Write an apt source for Debian's non-free component, copied from the machine's own
Debian sources (deb822 ``*.sources`` stanzas or one-line ``sources.list`` entries)."""

import glob
import re
import sys


def stanzas_from_deb822(text):
    for block in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^([\w-]+):[ \t]*(.*)$", block, re.M))
        if fields.get("Types", "deb").split()[0] != "deb" or "URIs" not in fields:
            continue
        if "main" not in fields.get("Components", "").split():
            continue
        if "debian" not in fields["URIs"] + fields.get("Signed-By", ""):
            continue
        fields["Components"] = "non-free"
        yield "\n".join(f"{k}: {v}" for k, v in fields.items())


def lines_from_list(text):
    for line in text.splitlines():
        m = re.match(r"^\s*deb\s+(\[[^]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
        if m and "main" in m.group(4).split() and "debian" in m.group(2):
            yield f"deb {m.group(1) or ''}{m.group(2)} {m.group(3)} non-free"


def main(out):
    stanzas, lines = [], []
    for path in glob.glob("/etc/apt/sources.list.d/*.sources"):
        stanzas += stanzas_from_deb822(open(path).read())
    for path in ["/etc/apt/sources.list"] + glob.glob("/etc/apt/sources.list.d/*.list"):
        try:
            lines += lines_from_list(open(path).read())
        except OSError:
            pass
    if stanzas:
        with open(out, "w") as f:
            f.write("\n\n".join(stanzas) + "\n")
    elif lines:
        with open(out[: -len(".sources")] + ".list", "w") as f:
            f.write("\n".join(lines) + "\n")
    else:
        sys.exit("setup-system: no Debian apt source found to copy for the non-free component")


if __name__ == "__main__":
    main(sys.argv[1])
