"""A userspace delay line in a router's namespace (this kernel has no netem).

Packets that arrive on ``iface`` for ``prefix`` are taken before the kernel forwards them (an nftables
forward-chain drop; AF_PACKET sees the frame first), held for ``delay`` seconds, their hop limit decremented,
and sent on as the router would have (raw IPv6, the kernel routes them).  Run inside the namespace:
``python -m harness.programs.delay --iface eth1 --prefix 2001:db8:100::/64 --delay 0.1 [--table NAME]
[--comment TAG]``; it prints ``ready`` once its nftables table (``--table``, default ``hmipv6ct_delay``; the
``--comment`` on its rule tells whose table it is) is in.  SIGTERM (or SIGINT) ends it at once: the packets it
still holds are sent on without further delay (removing a delay loses nothing) and the table is removed.  Bytes
only (hot path); the tester's scapy is not used here.
"""

from __future__ import annotations

import argparse
import heapq
import ipaddress
import select
import signal
import socket
import subprocess
import sys
import time

ETH_P_IPV6 = 0x86DD
PACKET_HOST = 0
TABLE = "hmipv6ct_delay"


def _nft(script: str) -> None:
    proc = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"nft: {proc.stderr.strip()}")


def _forward(tx: socket.socket, packet: bytes) -> bool:
    """Send a held IPv6 packet on as the router would (the kernel routes it); False if it could not go."""
    try:
        tx.sendto(packet, (socket.inet_ntop(socket.AF_INET6, packet[24:40]), 0))
    except OSError:
        return False
    return True


def run(iface: str, prefix: str, delay: float, table: str = TABLE, comment: str | None = None) -> int:
    net = ipaddress.IPv6Network(prefix, strict=False)
    base, mask = net.network_address.packed, net.netmask.packed
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
    rx.bind((iface, ETH_P_IPV6))
    tx = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    stopping = False

    def stop(signum, frame):  # noqa: ANN001
        nonlocal stopping
        stopping = True

    # handlers first: a SIGTERM at any point after the table goes in still removes it
    wake_r, wake_w = socket.socketpair()  # a signal wakes select() at once, however long the next packet is held
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    held: list[tuple[float, int, bytes]] = []
    n = sent = flushed = 0
    tag = f' comment "{comment}"' if comment else ""
    try:
        subprocess.run(["nft", "delete", "table", "ip6", table], capture_output=True)
        _nft(f"table ip6 {table} {{\n chain forward {{\n  type filter hook forward priority -10; policy accept;\n"
             f"  iifname \"{iface}\" ip6 daddr {net} drop{tag}\n }}\n}}\n")
        if not stopping:
            print("ready", flush=True)
        while not stopping:
            timeout = 0.2 if not held else max(0.0, held[0][0] - time.monotonic())
            ready, _, _ = select.select([rx, wake_r], [], [], timeout)
            if stopping:
                break
            if rx in ready:
                data, addr = rx.recvfrom(65535)
                if addr[2] == PACKET_HOST and len(data) >= 54:
                    packet = data[14:]
                    dst = packet[24:40]
                    if bytes(a & m for a, m in zip(dst, mask)) == base and packet[7] > 1:
                        n += 1
                        heapq.heappush(held, (time.monotonic() + delay, n, packet[:7] + bytes([packet[7] - 1]) + packet[8:]))
            now = time.monotonic()
            while held and held[0][0] <= now:
                sent += _forward(tx, heapq.heappop(held)[2])
        while held:  # stopping: what is still held goes on now
            flushed += _forward(tx, heapq.heappop(held)[2])
    finally:
        subprocess.run(["nft", "delete", "table", "ip6", table], capture_output=True)
        signal.set_wakeup_fd(-1)
        print(f"delayed {sent} of {n}" + (f", {flushed} more sent on at the end" if flushed else ""), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="harness.programs.delay", description=__doc__.splitlines()[0])
    p.add_argument("--iface", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--delay", type=float, required=True, help="seconds")
    p.add_argument("--table", default=TABLE, help=f"the nftables (ip6) table to use (default {TABLE})")
    p.add_argument("--comment", default=None, help="a comment on its rule, naming who runs it (letters, digits, _-.)")
    a = p.parse_args(argv)
    if a.comment is not None and not all(c.isalnum() or c in "_-." for c in a.comment):
        p.error("--comment: letters, digits, '_', '-' and '.' only")
    return run(a.iface, a.prefix, a.delay, a.table, a.comment)


if __name__ == "__main__":
    sys.exit(main())
