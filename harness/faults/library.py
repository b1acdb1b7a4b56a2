"""The faults: each one is applied and removed through a node's management connection (the virtual testbed's
routers are reached over SSH exactly as a lab router is), logs when it was applied and removed, and is
reversible.  Use as a context manager so a failing test still removes it::

    with EchoLoss(testbed, ar="ar1", map_node="map1", percent=100) as fault:
        ...   # fault.applied_at: when the rule went in (time.time())
    # removed here, even on an exception; fault.removed_at

A fault a node cannot take (a device without nftables, a daemon without a control command) raises
:class:`FaultNotSupported` with the reason: the test that needs it is NOT APPLICABLE.

Journal: before a fault goes in, its record -- with the shell commands that undo it on the node
(:meth:`Fault.undo_commands`) -- is written to the run's state file (``testbed.journal``, a
:class:`~harness.testbed.runstate.RunState`), and it is struck off once removed.  A run killed while a
fault is applied thus leaves a record from which ``hmipv6ct clean`` undoes it on nodes the run does not
own (a lab router); nodes the run built (namespaces) are simply deleted.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from harness.errors import HarnessError

log = logging.getLogger("hmipv6ct.faults")

NFT_PREFIX = "hmipv6ct_fault_"  # every fault table carries it, so a leftover is recognisable (and removable)


class FaultNotSupported(HarnessError):
    """The node cannot take this fault; the reason says why (the test becomes NOT APPLICABLE)."""


class FaultError(HarnessError):
    """Applying or removing a fault failed (infrastructure: the verdict is ERROR, never FAIL)."""


class Fault:
    """One reversible fault on a testbed.  Subclasses implement ``_apply`` and ``_remove``."""

    kind = "fault"

    def __init__(self, testbed: Any, node: str, **params: Any) -> None:
        self.testbed, self.node, self.params = testbed, node, params
        self.applied_at: float | None = None
        self.removed_at: float | None = None
        self.journal_id = f"{self.kind}-{secrets.token_hex(4)}"

    # -- the API ------------------------------------------------------------------------------------------------
    def apply(self) -> "Fault":
        if self.applied_at is not None and self.removed_at is None:
            raise FaultError(f"{self.describe()} is already applied")
        self._journal_add()  # first: a crash half-way through _apply still leaves the undo on record
        try:
            self._apply()
        except BaseException:
            self._undo_quietly()
            raise
        self.applied_at, self.removed_at = time.time(), None
        log.info("fault applied at %.6f: %s", self.applied_at, self.describe())
        return self

    def remove(self) -> None:
        """Undo the fault (idempotent: removing a fault that is not applied does nothing)."""
        if self.applied_at is None or self.removed_at is not None:
            return
        self._remove()
        self.removed_at = time.time()
        self._journal_strike()
        log.info("fault removed at %.6f: %s", self.removed_at, self.describe())

    def undo_commands(self) -> list[str]:
        """Shell commands that remove the fault on its node, for a later process that has only the journal
        (``hmipv6ct clean`` after the run died).  Each must be harmless when the fault is already gone."""
        return []

    def __enter__(self) -> "Fault":
        return self.apply()

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({self.node}{', ' + args if args else ''})"

    def record(self) -> dict[str, Any]:
        """What results.json keeps: the fault, its parameters and when it was applied and removed."""
        return {"fault": self.kind, "node": self.node, "params": dict(self.params),
                "applied_at": self.applied_at, "removed_at": self.removed_at}

    # -- journal ------------------------------------------------------------------------------------------------
    def _journal(self):
        return getattr(self.testbed, "journal", None)

    def _journal_add(self) -> None:
        journal = self._journal()
        if journal is None:
            return
        owned = getattr(self.testbed, "owns_node", lambda node: False)(self.node)
        journal.faults.append({"id": self.journal_id, "fault": self.kind, "node": self.node,
                               "params": {k: v for k, v in self.params.items()}, "undo": self.undo_commands(),
                               "owned": owned, "testbed": str(getattr(self.testbed.spec, "path", "")),
                               "applying_at": time.time()})
        journal.save()

    def _journal_strike(self) -> None:
        journal = self._journal()
        if journal is None:
            return
        journal.faults[:] = [r for r in journal.faults if r.get("id") != self.journal_id]
        journal.save()

    def _undo_quietly(self) -> None:
        """After a failed _apply: run the undo commands (best effort) and strike the record."""
        for command in self.undo_commands():
            try:
                self.testbed.driver(self.node).run(command, timeout=20)
            except Exception as exc:  # noqa: BLE001 -- the apply error is the one to report
                log.warning("undo after a failed apply of %s: %s", self.describe(), exc)
        self._journal_strike()

    # -- helpers ------------------------------------------------------------------------------------------------
    def _run(self, command: str, what: str) -> str:
        result = self.testbed.driver(self.node).run(command, timeout=20)
        if not result.ok:
            raise FaultError(f"{self.describe()}: {what} failed on {self.node} (exit {result.exit_status}): "
                             f"{(result.stderr or result.stdout).strip()[:300]}")
        return result.stdout

    def _control(self, args: str, what: str) -> str:
        command = self.testbed.control_command(self.node)
        if command is None:
            raise FaultNotSupported(f"{self.node}: no control command is known for its HMIPv6 daemon, so "
                                    f"{self.kind} cannot be triggered")
        return self._run(f"{command} {args}", what)

    def _address(self, node: str) -> str:
        spec = self.testbed.spec
        if spec.nodes[node].role == "map":
            return spec.map_address(node)
        return next(str(i.address.ip) for i in spec.nodes[node].interfaces.values() if i.address is not None)

    def _nft_table(self, body: str) -> None:
        table = NFT_PREFIX + self.kind
        self._run(f"nft delete table ip6 {table} 2>/dev/null; nft -f - <<'EOF'\ntable ip6 {table} {{\n{body}}}\nEOF",
                  "installing the nftables rule")

    def _nft_remove(self) -> None:
        self._run(f"nft delete table ip6 {NFT_PREFIX + self.kind}", "removing the nftables rule")

    def _nft_undo(self) -> list[str]:
        return [f"nft delete table ip6 {NFT_PREFIX + self.kind} 2>/dev/null; true"]

    def _control_undo(self, args: str) -> list[str]:
        command = self.testbed.control_command(self.node)
        return [f"{command} {args}"] if command else []


class ZeroLifetimeMap(Fault):
    """The access router advertises ``map_node`` with valid lifetime 0 (base §10: "manual intervention")."""

    kind = "zero_lifetime_map"

    def __init__(self, testbed: Any, ar: str, map_node: str) -> None:
        super().__init__(testbed, ar, map=map_node)
        self.map_address = self._address(map_node)

    def _apply(self) -> None:
        self._control(f"map-down {self.map_address}", "map-down")

    def _remove(self) -> None:
        self._control(f"map-up {self.map_address}", "map-up")

    def undo_commands(self) -> list[str]:
        return self._control_undo(f"map-up {self.map_address}")


class EchoLoss(Fault):
    """ICMPv6 echo requests from the access router to the MAP and/or the MAP's replies are dropped (``percent`` of
    them, at random) at the access router, so its echo-based failure detection (base §10) sees the MAP fail."""

    kind = "echo_loss"

    def __init__(self, testbed: Any, ar: str, map_node: str, percent: int = 100, direction: str = "both") -> None:
        if not 0 < percent <= 100 or direction not in ("request", "reply", "both"):
            raise ValueError("percent in 1..100; direction request, reply or both")
        super().__init__(testbed, ar, map=map_node, percent=percent, direction=direction)
        self.map_address = self._address(map_node)

    def _apply(self) -> None:
        p, m = self.params["percent"], self.map_address
        chance = "" if p == 100 else f"numgen random mod 100 < {p} "
        rules = ""
        if self.params["direction"] in ("request", "both"):
            rules += (" chain out {\n  type filter hook output priority 0; policy accept;\n"
                      f"  ip6 daddr {m} icmpv6 type echo-request {chance}drop\n }}\n")
        if self.params["direction"] in ("reply", "both"):
            rules += (" chain in {\n  type filter hook input priority 0; policy accept;\n"
                      f"  ip6 saddr {m} icmpv6 type echo-reply {chance}drop\n }}\n")
        self._nft_table(rules)

    def _remove(self) -> None:
        self._nft_remove()

    def undo_commands(self) -> list[str]:
        return self._nft_undo()


class MapPreference(Fault):
    """The MAP advertises preference ``value`` (0: no new bindings, base §7.1.2 overload); removal restores
    ``restore``."""

    kind = "map_preference"

    def __init__(self, testbed: Any, map_node: str, value: int = 0, restore: int = 10) -> None:
        super().__init__(testbed, map_node, value=value, restore=restore)

    def _apply(self) -> None:
        self._control(f"set-preference {self.params['value']}", "set-preference")

    def _remove(self) -> None:
        self._control(f"set-preference {self.params['restore']}", "set-preference")

    def undo_commands(self) -> list[str]:
        return self._control_undo(f"set-preference {self.params['restore']}")


class LinkFlap(Fault):
    """The node's interface on ``link`` goes down (carrier lost for the link's other members); removal brings it
    up again."""

    kind = "link_down"

    def __init__(self, testbed: Any, node: str, link: str) -> None:
        super().__init__(testbed, node, link=link)
        self.iface = testbed.spec.nodes[node].interface_on(link).name

    def _apply(self) -> None:
        self._run(f"ip link set {self.iface} down", "link down")

    def _remove(self) -> None:
        self._run(f"ip link set {self.iface} up", "link up")

    def undo_commands(self) -> list[str]:
        return [f"ip link set {self.iface} up"]


class Partition(Fault):
    """A router stops forwarding between two prefixes (both directions), e.g. the MAP's and the HA's."""

    kind = "partition"

    def __init__(self, testbed: Any, router: str, a: str, b: str) -> None:
        super().__init__(testbed, router, a=a, b=b)

    def _apply(self) -> None:
        a, b = self.params["a"], self.params["b"]
        self._nft_table(" chain fault_forward {\n  type filter hook forward priority 0; policy accept;\n"
                        f"  ip6 saddr {a} ip6 daddr {b} drop\n  ip6 saddr {b} ip6 daddr {a} drop\n }}\n")

    def _remove(self) -> None:
        self._nft_remove()

    def undo_commands(self) -> list[str]:
        return self._nft_undo()


class PacketLoss(Fault):
    """A router drops ``percent`` of the packets it forwards to ``prefix``, at random."""

    kind = "packet_loss"

    def __init__(self, testbed: Any, router: str, prefix: str, percent: int) -> None:
        if not 0 < percent <= 100:
            raise ValueError("percent in 1..100")
        super().__init__(testbed, router, prefix=prefix, percent=percent)

    def _apply(self) -> None:
        p = self.params["percent"]
        chance = "" if p == 100 else f"numgen random mod 100 < {p} "
        self._nft_table(" chain fault_forward {\n  type filter hook forward priority 0; policy accept;\n"
                        f"  ip6 daddr {self.params['prefix']} {chance}drop\n }}\n")

    def _remove(self) -> None:
        self._nft_remove()

    def undo_commands(self) -> list[str]:
        return self._nft_undo()


class MapCrash(Fault):
    """The MAP's daemon is killed (SIGKILL: no clean-up, its binding cache is lost, stale kernel state stays);
    removal starts it again.  Needs a testbed that can kill and start the node's daemon."""

    kind = "map_crash"

    def __init__(self, testbed: Any, map_node: str) -> None:
        super().__init__(testbed, map_node)
        if not hasattr(testbed, "kill_service"):
            raise FaultNotSupported(f"{map_node}: this testbed cannot crash and restart the node's daemon")

    def _apply(self) -> None:
        self.testbed.kill_service(self.node)

    def _remove(self) -> None:
        self.testbed.start_service(self.node)


KINDS: dict[str, type[Fault]] = {cls.kind: cls for cls in
                                 (ZeroLifetimeMap, EchoLoss, MapPreference, LinkFlap, Partition, PacketLoss, MapCrash)}
