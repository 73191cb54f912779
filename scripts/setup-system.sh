#!/bin/bash
# Install kernel-lab's Debian packages, idempotently (run as root).
#
# netperf lives in Debian's non-free component.  We do not edit the machine's apt sources: we
# write our own source file, a copy of the machine's Debian source stanzas (same mirror, same
# suites) with the component set to non-free.
set -euo pipefail

PACKAGES=(
    iperf3 libiperf0 netperf ethtool tcpdump iputils-ping iproute2 nftables procps kmod
    # kernels under test: QEMU, Debian's stock kernel with modules, virtme-ng's needs
    qemu-system-x86 linux-image-amd64 busybox-static
    # the guest's static pre-init (harness/guest/preinit.c) is built on first boot
    gcc libc6-dev
    # the OVS labs
    openvswitch-switch
    # reports: the LaTeX (beamer) output is compiled and the HTML page screenshotted in tests
    texlive-latex-recommended texlive-pictures chromium
    # topology diagrams (dot) and the deck tests (pdftotext, pdftoppm)
    graphviz poppler-utils
    # kernel-lab build-kernel: Debian's kernel source built with the labs' config fragment
    make flex bison bc libelf-dev libssl-dev xz-utils ccache
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-system: all Debian packages present"
    exit 0
fi
echo "setup-system: installing ${missing[*]}"

NONFREE=/etc/apt/sources.list.d/kernel-lab-non-free.sources
if [ ! -e "$NONFREE" ] && [ ! -e "${NONFREE%.sources}.list" ]; then
    python3 scripts/apt_non_free.py "$NONFREE"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-system: done"
