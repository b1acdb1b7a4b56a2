"""The daemon's nftables table: hand signalling and tunnelled traffic to userspace before the kernel sees it.

Without Mobile IPv6 (this host's kernel) the kernel answers a BU with a Home Address option, a BA with a
type 2 routing header and IPv6-in-IPv6 to a local address with ICMPv6 errors; with Mobile IPv6 built in
(Debian's kernel) it drops HAO/RH2 packets that have no xfrm state silently (docs/kernel-mip6.md).  AF_PACKET sees a frame before
netfilter, so a prerouting drop at raw priority leaves the daemon as its only consumer.  The table is
named per daemon and deleted (with any stale copy from a crashed run) at start and at exit.

Changes to the ``intercept`` set are staged and applied in batches: :meth:`Table.intercept` and
:meth:`Table.release` only record the wanted state of an address (the last call wins, so a release followed by
an intercept of the same address within one batch leaves it intercepted), and :meth:`Table.flush` applies every
staged change in one ``nft -f -`` transaction (one process for the batch instead of one per address: the
process start-up, ~2.5 ms, was the cost of a new binding).  Which changes were applied is known exactly, so
the transaction never deletes an element that is not there (nft would reject the whole batch).  If the
transaction fails, each change is retried alone and every one that still fails is reported with its address.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


class NftError(RuntimeError):
    pass


NFT_TIMEOUT = 10.0  # s: an nft run still going after this is ended (by its PID) and counted as failed


def _nft(script: str) -> None:
    try:
        proc = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True, timeout=NFT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise NftError(f"nft did not finish within {NFT_TIMEOUT:g} s (ended)\n--- script ---\n{script}") from None
    if proc.returncode != 0:
        raise NftError(f"nft failed: {proc.stderr.strip()}\n--- script ---\n{script}")


def _spawn(script: str) -> subprocess.Popen[str]:
    """``nft -f -`` reading ``script``, not waited for (its stderr a pipe that closes when it exits)."""
    proc = subprocess.Popen(["nft", "-f", "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None
        proc.stdin.write(script)
        proc.stdin.close()
    except OSError:  # nft ended early: its exit status says so
        pass
    return proc


def delete_table(name: str) -> bool:
    """Delete ``ip6 NAME`` if it exists; True if it did."""
    return subprocess.run(["nft", "delete", "table", "ip6", name], capture_output=True).returncode == 0


@dataclass
class Transaction:
    """An ``nft -f -`` run applying ``adds`` and ``removes`` to the intercept set (see :meth:`Table.start_flush`)."""
    proc: subprocess.Popen[str]
    adds: list[str]
    removes: list[str]

    def fileno(self) -> int:
        """Readable once nft has exited (its error output closed)."""
        assert self.proc.stderr is not None
        return self.proc.stderr.fileno()

    def abandon(self) -> None:
        """End an nft run that does not finish (the daemon's own child, by its PID); :meth:`Table.finish_flush`
        then retries its changes one by one, each with :data:`NFT_TIMEOUT`."""
        self.proc.kill()


class Table:
    """``ip6 NAME`` with a set of own addresses and a set of addresses the daemon intercepts."""

    def __init__(self, name: str, own: list[str], l4protos: tuple[int, ...] = (41, 135),
                 first_headers: tuple[int, ...] = ()) -> None:
        """``l4protos``: upper-layer protocols to own addresses the daemon takes; ``first_headers``: also packets
        whose first next header is one of these (e.g. 43: a type 2 routing header the kernel would ignore and
        then answer the datagram inside with an ICMPv6 error)."""
        self.name, self.own, self.l4protos, self.first_headers = name, list(own), l4protos, first_headers
        self.installed: set[str] = set()  # the intercept set's elements, as far as this object applied them
        self._staged: dict[str, bool] = {}  # address -> wanted in the intercept set (not applied yet)
        self.transactions = 0  # nft runs of flush() (the one-by-one retries not counted)
        self.changes = 0  # elements added or deleted by flush()
        self.rebuild([])

    def rebuild(self, intercepted: list[str]) -> None:
        """(Re)create the table from scratch, replacing any copy (a stale one from an earlier run).
        ``intercepted`` is the whole intercept set: staged changes are dropped."""
        self._staged.clear()
        self.installed = set()
        name, own = self.name, self.own
        delete_table(name)
        protos = ", ".join(str(p) for p in self.l4protos)
        elements = ", ".join(own)
        held = ", ".join(dict.fromkeys(intercepted))
        # one statement per line: nft rejects some rulesets given on a single line
        _nft(f"""table ip6 {name} {{
  set own {{
    type ipv6_addr
    {f'elements = {{ {elements} }}' if own else ''}
  }}
  set intercept {{
    type ipv6_addr
    {f'elements = {{ {held} }}' if intercepted else ''}
  }}
  chain prerouting {{
    type filter hook prerouting priority raw; policy accept;
    ip6 daddr @own meta l4proto {{ {protos} }} drop
    {f'ip6 daddr @own ip6 nexthdr {{ {", ".join(str(h) for h in self.first_headers)} }} drop' if self.first_headers else ''}
    ip6 daddr @intercept drop
  }}
}}
""")
        self.installed = set(intercepted)

    def add_own(self, address: str) -> None:
        """An address that became ours (kept across :meth:`rebuild`)."""
        if address not in self.own:
            self.own.append(address)
        _nft(f"add element ip6 {self.name} own {{ {address} }}\n")

    def remove_own(self, address: str) -> None:
        if address in self.own:
            self.own.remove(address)
        subprocess.run(["nft", "delete", "element", "ip6", self.name, "own", f"{{ {address} }}"], capture_output=True)

    def intercept(self, address: str) -> None:
        """Stage: drop ``address``'s packets before the kernel sees them (applied by :meth:`flush`)."""
        self._staged[address] = True

    def release(self, address: str) -> None:
        """Stage: stop intercepting ``address`` (applied by :meth:`flush`)."""
        self._staged[address] = False

    @property
    def pending(self) -> bool:
        """True while staged changes wait for :meth:`flush`."""
        return bool(self._staged)

    def flush(self) -> list[tuple[str, str]]:
        """Apply every staged change in one nftables transaction; ``[(address, error)]`` for the changes that
        could not be applied (each then retried alone, so one bad address does not sink the others)."""
        return self.finish_flush(self.start_flush())

    def start_flush(self) -> Transaction | None:
        """Start applying the staged changes (one ``nft -f -`` process; None if there is nothing to change) and
        return at once: the event loop goes on while nft works, and calls :meth:`finish_flush` when the
        transaction's :meth:`~Transaction.fileno` is readable (nft exited).  One transaction at a time."""
        if not self._staged:
            return None
        staged, self._staged = self._staged, {}
        adds = [a for a, wanted in staged.items() if wanted and a not in self.installed]
        removes = [a for a, wanted in staged.items() if not wanted and a in self.installed]
        if not adds and not removes:
            return None
        self.transactions += 1
        return Transaction(_spawn(self._changes(adds, removes)), adds, removes)

    def finish_flush(self, txn: Transaction | None) -> list[tuple[str, str]]:
        """Wait for ``txn`` to end and record what it applied; ``[(address, error)]`` as :meth:`flush`."""
        if txn is None:
            return []
        assert txn.proc.stderr is not None
        txn.proc.stderr.read()  # nft's complaint, if any: the one-by-one retry says which change and why
        txn.proc.stderr.close()
        if txn.proc.wait() != 0:
            return self._one_by_one(txn.adds, txn.removes)
        self.changes += len(txn.adds) + len(txn.removes)
        self.installed.update(txn.adds)
        self.installed.difference_update(txn.removes)
        return []

    def _changes(self, adds: list[str], removes: list[str]) -> str:
        lines = []
        if removes:
            lines.append(f"delete element ip6 {self.name} intercept {{ {', '.join(removes)} }}")
        if adds:
            lines.append(f"add element ip6 {self.name} intercept {{ {', '.join(adds)} }}")
        return "\n".join(lines) + "\n"

    def _one_by_one(self, adds: list[str], removes: list[str]) -> list[tuple[str, str]]:
        failed = []
        for address, add in [(a, False) for a in removes] + [(a, True) for a in adds]:
            try:
                _nft(self._changes([address], []) if add else self._changes([], [address]))
            except NftError as exc:
                failed.append((address, str(exc).splitlines()[0]))
                continue
            self.changes += 1
            if add:
                self.installed.add(address)
            else:
                self.installed.discard(address)
        return failed

    def remove(self) -> None:
        delete_table(self.name)
