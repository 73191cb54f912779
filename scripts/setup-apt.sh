#!/bin/bash
# Install kernel-lab's Debian packages, idempotently.
# netperf lives in Debian's non-free component: we write our own apt source for it,
# copied from the machine's own Debian source (same mirror, same suites), so the
# system's files are left as they are.
set -euo pipefail

PACKAGES=(iperf3 libiperf0 netperf ethtool tcpdump iputils-ping iproute2 nftables procps
          qemu-system-x86 linux-image-amd64 busybox-static openvswitch-switch)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-apt: all Debian packages present"
    exit 0
fi
echo "setup-apt: installing ${missing[*]}"

NONFREE=/etc/apt/sources.list.d/kernel-lab-non-free.sources
if [ ! -e "$NONFREE" ] && ! grep -rqs 'non-free\b' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v non-free-firmware >/dev/null; then
    python3 - "$NONFREE" <<'PY'
import re, sys, glob
out = sys.argv[1]
stanzas = []
for f in glob.glob("/etc/apt/sources.list.d/*.sources"):
    for block in open(f).read().split("\n\n"):
        fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", block, re.M))
        if "Suites" in fields and "URIs" in fields and "main" in fields.get("Components", "").split() \
                and "debian" in fields.get("Signed-By", "") + fields["URIs"]:
            fields["Components"] = "non-free"
            stanzas.append("\n".join(f"{k}: {v}" for k, v in fields.items()))
lines = []
try:
    for line in open("/etc/apt/sources.list"):
        m = re.match(r"^\s*deb\s+(\S+)\s+(\S+)\s+(.*)$", line)
        if m and "main" in m.group(3).split():
            lines.append(f"deb {m.group(1)} {m.group(2)} non-free")
except FileNotFoundError:
    pass
if lines:
    open(out.replace(".sources", ".list"), "w").write("\n".join(lines) + "\n")
if stanzas:
    open(out, "w").write("\n\n".join(stanzas) + "\n")
if not (lines or stanzas):
    sys.exit("setup-apt: found no Debian apt source to copy for the non-free component")
PY
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-apt: done"
