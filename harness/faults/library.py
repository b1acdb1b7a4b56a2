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

import ipaddress
import logging
import secrets
import shlex
import time
from typing import Any

from harness.errors import HarnessError, InfrastructureError
from harness.nodeproc import START_TIME_SH, kill_sh, python_for
from harness.testbed import runstate

log = logging.getLogger("hmipv6ct.faults")

NFT_PREFIX = "hmipv6ct_fault_"  # every fault table carries it, so a leftover is recognisable (and removable)


class FaultNotSupported(HarnessError):
    """The node cannot take this fault; the reason says why (the test becomes NOT APPLICABLE)."""


class FaultError(InfrastructureError):
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
        runstate.journal_add(self.testbed, self.journal_id, self.kind, self.node, self.params, self.undo_commands())

    def _journal_strike(self) -> None:
        runstate.journal_strike(self.testbed, self.journal_id)

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



class AccessPointCrash(Fault):
    """A Wi-Fi access point's daemon (hostapd) is killed: its BSS vanishes and its stations must find another AP;
    removal starts it again.  Needs a testbed that can crash and restore the AP (``crash_access_point``)."""

    kind = "ap_crash"

    def __init__(self, testbed: Any, ap: str) -> None:
        super().__init__(testbed, ap)
        node = testbed.spec.nodes.get(ap)
        if node is None or node.ap is None:
            raise FaultNotSupported(f"{ap}: not an access point of testbed {testbed.spec.name!r} (it has "
                                    f"{', '.join(n.name for n in testbed.spec.access_points()) or 'none'})")
        if not hasattr(testbed, "crash_access_point"):
            raise FaultNotSupported(f"{ap}: this testbed cannot crash and restore an access point")

    def _apply(self) -> None:
        self.testbed.crash_access_point(self.node)

    def _remove(self) -> None:
        self.testbed.restore_access_point(self.node)


# -- a delay line on a router (PathDelay) --------------------------------------------------------------------------

# "the start time (field 22 of /proc/PID/stat) of PID, if it runs": a process is ours only while
# `[ "$(_st PID)" = START ]` (a recycled PID has another start time)
_START_TIME_SH = START_TIME_SH


def _seconds(delay: Any) -> float:
    """``delay`` in seconds: a number or a numeric string (``0.1``, ``"0.1"``, ``"0.1s"``), or milliseconds
    with the unit (``"100ms"``)."""
    text = str(delay).strip().lower()
    scale = 1.0
    if text.endswith("ms"):
        text, scale = text[:-2], 0.001
    elif text.endswith("s"):
        text = text[:-1]
    try:
        value = float(text) * scale
    except ValueError:
        raise ValueError(f"delay {delay!r}: seconds (0.1, 0.1s) or milliseconds with the unit (100ms)") from None
    if not 0 < value <= 60:
        raise ValueError(f"delay {delay!r}: {value:g} s is not in (0, 60] s (a bare number is seconds: "
                         f"write {delay}ms for milliseconds)")
    return value


class PathDelay(Fault):
    """Packets a router receives on ``iface`` for ``prefix`` reach their next hop ``delay`` seconds late (the host
    kernel has no netem): :mod:`harness.programs.delay`, a userspace delay line, runs on the router as a background
    process started through its management connection, with its nftables table ``hmipv6ct_fault_path_delay``.

    ``delay`` is in seconds (``0.1``, ``"0.1"``, ``"0.1s"``) or milliseconds with the unit (``"100ms"``); a bare
    number is always seconds (``hmipv6ct fault apply path_delay ... delay=0.1``).  ``iface`` may also name the
    link the interface is on.  The delay line's PID and start time (``pid``, ``pid_start``: field 22 of
    /proc/PID/stat) are recorded (journal and :meth:`record`); removal ends that PID only (SIGTERM: the packets
    it still holds go on at once, and it removes its table), and the undo commands kill it only while its start
    time still matches, so a recycled PID is never hit.  The table's rule carries the journal id as a comment:
    a table is deleted only by the fault it belongs to.  One path delay per router at a time (a second one is a
    :class:`FaultError` and leaves the first alone).

    The delay line is a Python program of the harness: a virtual router (a namespace of this host) runs it with
    this Python; a lab router needs ``python3`` with the harness importable and nftables, else the fault is NOT
    APPLICABLE (:class:`FaultNotSupported`).
    """

    kind = "path_delay"
    START_TIMEOUT = 10.0  # seconds for the delay line to have its table in
    STOP_TIMEOUT = 5.0  # seconds for it to end on SIGTERM (then SIGKILL)

    def __init__(self, testbed: Any, router: str, iface: str, prefix: str, delay: Any) -> None:
        node = testbed.spec.nodes[router]
        if iface not in node.interfaces:
            if iface in testbed.spec.links and router in testbed.spec.links[iface].members:
                iface = node.interface_on(iface).name
            else:
                raise ValueError(f"{router} has no interface (or link) {iface!r}: {', '.join(node.interfaces)}")
        prefix = str(ipaddress.IPv6Network(str(prefix), strict=False))
        super().__init__(testbed, router, iface=iface, prefix=prefix, delay=_seconds(delay))
        self.table = NFT_PREFIX + self.kind
        self.python = python_for(testbed, router)
        self.start_timeout = float(getattr(testbed, "program_start_timeout", self.START_TIMEOUT))
        self.pid: int | None = None
        self.pid_start: str | None = None
        self.report: str | None = None  # the delay line's last words ("delayed N of M")

    # files on the node, named after the journal record (``hmipv6ct fault remove`` sets journal_id from it)
    @property
    def _log_file(self) -> str:
        return f"/tmp/{NFT_PREFIX}{self.journal_id}.log"

    @property
    def _pid_file(self) -> str:
        return f"/tmp/{NFT_PREFIX}{self.journal_id}.pid"

    def record(self) -> dict[str, Any]:
        return super().record() | {"pid": self.pid, "pid_start": self.pid_start, "delay_line": self.report}

    def _apply(self) -> None:
        q = shlex.quote
        p = self.params
        t, lf, pf, py = q(self.table), q(self._log_file), q(self._pid_file), q(self.python)
        script = "\n".join([
            _START_TIME_SH,
            "command -v nft >/dev/null 2>&1 || { echo 'nft (nftables) is not installed'; exit 90; }",
            f"{py} -c 'import harness.programs.delay' 2>&1 || exit 91",
            (f"nft list table ip6 {t} >/dev/null 2>&1 && {{ echo 'nftables table {self.table} exists: a path delay "
             "is already applied here (or left behind: hmipv6ct clean)'; exit 92; }"),
            (f"nohup {py} -m harness.programs.delay --iface {q(p['iface'])} --prefix {q(p['prefix'])} "
             f"--delay {p['delay']!r} --table {t} --comment {q(self.journal_id)} >{lf} 2>&1 </dev/null &"),
            "pid=$!; start=$(_st $pid)",
            f"echo \"$pid $start\" >{pf}; echo \"pid $pid $start\"",
            f"end=$(( $(date +%s) + {int(self.start_timeout)} ))",
            f"until {self._ours()}; do",
            "  [ -n \"$start\" ] && [ \"$(_st $pid)\" = \"$start\" ] ||",
            f"    {{ echo 'the delay line ended:'; tail -n 20 {lf}; exit 93; }}",
            "  [ $(date +%s) -lt $end ] ||",
            f"    {{ echo 'no table after {self.start_timeout:g} s:'; tail -n 20 {lf}; exit 94; }}",
            "  sleep 0.05 2>/dev/null || sleep 1",
            "done",
        ])
        result = self.testbed.driver(self.node).run(script, timeout=self.start_timeout + 20)
        for line in result.stdout.splitlines():
            words = line.split()
            if len(words) == 3 and words[0] == "pid" and words[1].isdigit():
                self.pid, self.pid_start = int(words[1]), words[2]
        detail = (result.stdout + result.stderr).strip()[-600:]
        if result.exit_status in (90, 91):
            raise FaultNotSupported(f"{self.node}: the delay line needs nftables and {self.python} with the harness "
                                    f"importable on the node: {detail}")
        if not result.ok:
            raise FaultError(f"{self.describe()}: starting the delay line failed on {self.node} "
                             f"(exit {result.exit_status}): {detail}")
        if self.pid is None:
            raise FaultError(f"{self.describe()}: the delay line's PID was not reported: {detail}")
        self._journal_pid()
        log.info("%s: delay line pid %d (start time %s) on %s", self.describe(), self.pid, self.pid_start, self.node)

    def _journal_pid(self) -> None:
        """The journal record gets the PID and undo commands that name it (it was written before the start)."""
        runstate.journal_update(self.testbed, self.journal_id, pid=self.pid, pid_start=self.pid_start,
                                undo=self.undo_commands())

    def _pid_from_journal(self) -> None:
        """Another process applied it (``hmipv6ct fault apply``): its PID is in the journal record."""
        journal = self._journal()
        for rec in (journal.faults if journal is not None else []):
            if rec.get("id") == self.journal_id and rec.get("pid") is not None:
                self.pid, self.pid_start = int(rec["pid"]), str(rec.get("pid_start"))

    def _remove(self) -> None:
        if self.pid is None:
            self._pid_from_journal()
        if self.pid is None:  # not known: the undo commands find it through the node's PID file
            for command in self.undo_commands():
                self._run(command, "stopping the delay line (from its PID file)")
            return
        q = shlex.quote
        pid, start, t, lf = self.pid, q(str(self.pid_start)), q(self.table), q(self._log_file)
        script = "\n".join([
            _START_TIME_SH,
            f"[ \"$(_st {pid})\" = {start} ] && kill -TERM {pid}",
            f"end=$(( $(date +%s) + {int(self.STOP_TIMEOUT)} ))",
            f"while [ \"$(_st {pid})\" = {start} ]; do",
            f"  if [ $(date +%s) -ge $end ]; then echo 'did not end on SIGTERM: SIGKILL'; kill -KILL {pid}; break; fi",
            "  sleep 0.05 2>/dev/null || sleep 1",
            "done",
            f"{self._ours()} && {{ echo 'table left behind: deleted'; nft delete table ip6 {t}; }}",
            f"tail -n 1 {lf} 2>/dev/null; rm -f {lf} {q(self._pid_file)}",
            f"! {self._ours()}",
        ])
        out = self._run(script, "stopping the delay line")
        lines = out.strip().splitlines()
        self.report = lines[-1] if lines and lines[-1].startswith("delayed") else None
        if any(w in out for w in ("SIGKILL", "left behind")):
            log.warning("%s: delay line %d did not end cleanly: %s", self.describe(), pid, " | ".join(lines))

    def undo_commands(self) -> list[str]:
        q = shlex.quote
        t, files = q(self.table), f"{q(self._log_file)} {q(self._pid_file)}"
        kill = kill_sh(self.pid, self.pid_start, self._pid_file)
        return [f"{_START_TIME_SH}; {kill}; {self._ours()} && nft delete table ip6 {t}; rm -f {files}; true"]

    def _ours(self) -> str:
        """Shell: the table exists and is this fault's (its rule carries the journal id as comment), not another
        path delay's (one applied later, or the one an apply that found the table refused to replace)."""
        return f"nft list table ip6 {shlex.quote(self.table)} 2>/dev/null | grep -qF {shlex.quote(self.journal_id)}"


# -- a renumbered MAP (MapAddressChange) ---------------------------------------------------------------------------

class MapAddressChange(Fault):
    """The access router advertises ``map_node``'s MAP option with the global address ``new_address`` (a
    renumbered MAP): Dist, Pref, R and the valid lifetime stay and a fresh RA goes out at once; a mobile node
    "MUST act on the change" of the advertised MAP's address (§3.1 ¶7, both editions).  Through the AR daemon's
    ``map-readdress "OLD NEW"`` control command (removal: ``map-readdress "NEW OLD"``); the MAP option must be
    one the AR is configured with (manually).  An AR that also learns the MAP's option from RAs (rfc4140 dynamic
    discovery, as AR1 of the virtual testbed) goes on relaying the old address it learns, Dist + 1: use an AR
    configured manually only (AR2) for a clean renumbering."""

    kind = "map_address_change"

    def __init__(self, testbed: Any, ar: str, map_node: str, new_address: str) -> None:
        new = str(ipaddress.IPv6Address(str(new_address)))
        super().__init__(testbed, ar, map=map_node, new_address=new)
        self.map_address = self._address(map_node)
        if ipaddress.IPv6Address(self.map_address) == ipaddress.IPv6Address(new):
            raise ValueError(f"{new} is already {map_node}'s address")

    def _readdress(self, old: str, new: str) -> str | None:
        command = self.testbed.control_command(self.node)
        if command is None:
            return None
        return f"{command} map-readdress {shlex.quote(f'{old} {new}')}"

    def _apply(self) -> None:
        self._control_readdress(self.map_address, self.params["new_address"])

    def _remove(self) -> None:
        self._control_readdress(self.params["new_address"], self.map_address)

    def _control_readdress(self, old: str, new: str) -> None:
        command = self._readdress(old, new)
        if command is None:
            raise FaultNotSupported(f"{self.node}: no control command is known for its HMIPv6 daemon, so "
                                    f"{self.kind} cannot be triggered")
        self._run(command, "map-readdress")

    def undo_commands(self) -> list[str]:
        command = self._readdress(self.params["new_address"], self.map_address)
        return [command] if command else []


KINDS: dict[str, type[Fault]] = {cls.kind: cls for cls in
                                 (ZeroLifetimeMap, EchoLoss, MapPreference, LinkFlap, Partition, PacketLoss, MapCrash,
                                  PathDelay, MapAddressChange, AccessPointCrash)}
