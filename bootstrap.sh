#!/bin/sh
# Install what the suite needs on a fresh Debian/Ubuntu machine, as root:
# Debian packages (only those missing) and the suite itself into ./.venv.
set -eu
cd "$(dirname "$0")"

PACKAGES="iproute2 iputils-ping procps nftables iptables openssh-server openssh-client socat tshark radvd python3 python3-venv python3-pip"
# the QEMU guest with Debian's kernel (Mobile IPv6 built in) and the virtual Wi-Fi lab in it: the guest runs the
# host's hostapd, wpa_supplicant and iw over 9p (the host itself needs no Wi-Fi)
PACKAGES="$PACKAGES qemu-system-x86 busybox-static kmod hostapd wpasupplicant iw"
# the report's browser check (headless Chromium driven by Selenium)
PACKAGES="$PACKAGES chromium chromium-driver"
missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "bootstrap: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no, non-interactively
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi

# the reference MN and CN daemons use TUN devices; a minimal container may lack the device node
if [ ! -c /dev/net/tun ]; then
    modprobe tun 2>/dev/null || true
    [ -c /dev/net/tun ] || { mkdir -p /dev/net && mknod -m 600 /dev/net/tun c 10 200; }
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# the Allure HTML generator (hmipv6ct report --allure), from the npm registry when Node.js is here; optional
if command -v npm >/dev/null 2>&1 && ! command -v allure >/dev/null 2>&1; then
    echo "bootstrap: installing the allure npm package (Allure 3) for 'hmipv6ct report --allure'"
    npm install -g --silent allure@3 || echo "bootstrap: allure not installed; 'hmipv6ct report --allure' will say how"
fi
echo "bootstrap: ready (.venv/bin/hmipv6ct, .venv/bin/python -m pytest)"
