"""The event loop every reference daemon shares: sockets and a monotonic clock around a sans-I/O core.

Frames arrive on :class:`~.linkio.LinkSocket`s; a role-specific ``accept`` decides which go to the
core (signalling) and which to the data plane; the core's actions are carried out in order; the
loop sleeps until the core's next deadline.  A malformed frame is logged and dropped, never fatal.

Nothing a frame, a timer or a control request triggers may end the daemon: an exception escaping the
core, the data plane or a reader is counted (``internal_errors``) and logged with its traceback, and the
loop goes on; a packet a core asks for that cannot be encoded is counted (``encode_errors``) and not sent.
Log lines of the events a flood can cause (``decode_error``, ``internal_error``, ...) are rate limited
per event (:data:`LOG_BURST` per second; the next line says how many were suppressed), so a stream of
malformed frames cannot fill the disk; the counters stay exact.

Staged changes (:attr:`Daemon.staged`: e.g. the userspace data plane's nftables intercept set, whose changes are
applied in one transaction per batch): while any is staged, every packet the daemon would send is held back, in
order; :meth:`Daemon.commit`, once per turn of the loop (after the frames of every ready socket and the timers),
applies the staged changes and then sends what was held.  So a BA never leaves before the change its binding
made (the RCoA intercepted), and the many new bindings of a batch share one ``nft`` run.  In the loop a commit
does not block: it starts the transaction (an ``nft`` process whose pipe is watched with the sockets), the
loop goes on reading and handling frames (their changes staged for the next transaction, their sends held
behind the earlier ones), and when nft exits the sends held for it go out.  A commit starts as soon as no
socket is readable, or after :data:`COMMIT_AFTER` while frames keep coming (a flood of new bindings then
costs one ``nft`` run per ~20 ms, not one per wake-up); a held BA waits at most that long plus two ``nft``
runs.  :meth:`Daemon.commit` is the waiting form (control commands, exit).
"""

from __future__ import annotations

import json
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from ..actions import Action, Log, Send
from ..wire import DecodeError, decode_frame, encode_packet, fastpath, fmt, is_link_local, is_multicast, multicast_mac
from .control import ControlServer
from .linkio import RECV_BATCH, LinkSocket, RawSender

MAX_BATCH = 128  # frames read from one socket before the loop looks at timers again (~0.4 ms at full load)
COMMIT_AFTER = 0.02  # s: while frames keep coming, staged changes and held sends wait this long at most
COMMIT_DEADLINE = 10.0  # s: a started commit still running after this is abandoned (logged), what it held sent
LOG_BURST = 20  # log lines per second and per flood-prone event; the rest are counted, not written
FLOOD_EVENTS = frozenset({"decode_error", "internal_error", "encode_error", "send_error", "bad_link_dst",
                          "reverse_tunnel_rejected"})


class Core(Protocol):
    def start(self, now: float) -> list[Action]: ...
    def handle(self, now: float, iface: str, packet: Any) -> list[Action]: ...
    def tick(self, now: float) -> list[Action]: ...
    def next_deadline(self) -> float | None: ...
    def snapshot(self) -> dict[str, Any]: ...


class Staged(Protocol):
    """Changes applied in batches (e.g. an nftables set): ``pending`` while some wait; ``start()`` begins applying
    them and returns a handle whose ``fileno()`` becomes readable when done (or None: applied already, or nothing
    to do); ``finish(handle)`` completes it."""

    @property
    def pending(self) -> bool: ...
    def start(self) -> Any: ...
    def finish(self, handle: Any) -> None: ...


class JsonLog:
    """One JSON object per line: ``{"ts": ..., "daemon": ..., "event": ..., ...}``."""

    def __init__(self, daemon: str, stream: TextIO, burst: int = LOG_BURST) -> None:
        self.daemon, self.stream, self.burst = daemon, stream, burst
        self._window: dict[str, tuple[int, int, int]] = {}  # event -> (second, written in it, suppressed)

    def __call__(self, event: str, **fields: Any) -> None:
        if event in FLOOD_EVENTS:
            second = int(time.monotonic())
            start, written, suppressed = self._window.get(event, (second, 0, 0))
            if start != second:
                start, written = second, 0
            if written >= self.burst:
                self._window[event] = (start, written, suppressed + 1)
                return
            self._window[event] = (start, written + 1, 0)
            if suppressed:
                fields = {**fields, "suppressed_before": suppressed}
        line = {"ts": round(time.time(), 6), "daemon": self.daemon, "event": event}
        line.update({k: fmt(v) if isinstance(v, bytes) and len(v) == 16 else v for k, v in fields.items()})
        self.stream.write(json.dumps(line, default=str) + "\n")
        self.stream.flush()


class Daemon:
    """Run ``core`` on ``links`` until SIGTERM/SIGINT."""

    def __init__(self, name: str, core: Core, links: dict[str, LinkSocket], log: JsonLog,
                 control_path: str, accept: Callable[[str, bytes], bool],
                 on_action: Callable[[Action], bool] | None = None,
                 on_data: Callable[[str, bytes], bool] | None = None,
                 commands: dict[str, Callable[[float, Any], list[Action] | dict[str, Any]]] | None = None,
                 readers: dict[Any, Callable[[], None]] | None = None) -> None:
        self.name, self.core, self.links, self.log = name, core, links, log
        self.accept, self.on_action, self.on_data = accept, on_action, on_data
        self.commands = commands or {}
        self.readers = readers or {}  # further file objects (a TUN device, a netlink socket) -> callback when readable
        self.extra_state: Callable[[], dict[str, Any]] | None = None
        # a data plane's whole-batch handler: (iface, frames, per-frame path for the frames it does not take)
        self.on_batch: Callable[[str, list[bytes], Callable[[str, bytes], None]], None] | None = None
        self.staged: Staged | None = None  # changes applied in batches; sends wait for them (commit())
        self._held: list[Send | Callable[[], None]] = []
        self._hold_since: float | None = None  # when the loop first found sends held (see COMMIT_AFTER)
        self._inflight: tuple[Any, int] | None = None  # a started commit and how many held items wait for it
        self._inflight_since = 0.0  # when that commit was started (monotonic; see COMMIT_DEADLINE)
        self._selector: selectors.BaseSelector | None = None
        self.raw = RawSender()
        self.control = ControlServer(control_path, self._control)
        self.stopping = False
        self.counters = {"frames": 0, "to_core": 0, "decode_errors": 0, "sent": 0, "send_errors": 0,
                         "encode_errors": 0, "internal_errors": 0}

    # -- actions -------------------------------------------------------------------
    def dispatch(self, actions: list[Action]) -> None:
        for action in actions:
            try:
                if isinstance(action, Send):
                    if self._held or (self.staged is not None and self.staged.pending):
                        self._held.append(action)  # after the staged changes (commit())
                    else:
                        self._send(action)
                elif isinstance(action, Log):
                    self.log(action.event, **dict(action.fields))
                if self.on_action is not None:
                    self.on_action(action)
            except Exception as exc:  # noqa: BLE001 - the other actions are still carried out
                self.internal_error("action", exc, action=type(action).__name__)

    def holding(self) -> bool:
        """True while sends are held back for staged changes: a send must then go through :meth:`hold`."""
        return bool(self._held) or (self.staged is not None and self.staged.pending)

    def hold(self, send: Callable[[], None]) -> None:
        """Carry out ``send`` at the next :meth:`commit`, after the staged changes and what was held before."""
        self._held.append(send)

    def commit(self) -> None:
        """Apply the staged changes (waiting for them), then send what was held back meanwhile, in order."""
        if self._inflight is not None:
            self._end_commit()
        self._hold_since = None
        staged = self.staged
        if staged is not None and staged.pending:
            try:
                staged.finish(staged.start())
            except Exception as exc:  # noqa: BLE001 - logged; what was held still goes out
                self.internal_error("commit", exc)
        self._release(len(self._held))

    def _start_commit(self) -> None:
        """Start applying the staged changes without waiting; what is held now goes out when they are applied
        (:meth:`_end_commit`, when the transaction's file becomes readable), what is held later after the next."""
        self._hold_since = None
        staged, handle = self.staged, None
        if staged is not None and staged.pending:
            try:
                handle = staged.start()
            except Exception as exc:  # noqa: BLE001
                self.internal_error("commit", exc)
        if handle is None:
            self._release(len(self._held))
            return
        self._inflight = (handle, len(self._held))
        self._inflight_since = time.monotonic()
        if self._selector is not None:
            self._selector.register(handle, selectors.EVENT_READ, self._end_commit)

    def check_commit_deadline(self, now: float) -> None:
        """A started commit that has not finished within :data:`COMMIT_DEADLINE` (a hung nft) is abandoned: an
        internal error is logged, the handle's ``abandon()`` ends it, and it is finished as a failed one -- the
        sends it held go out instead of waiting for ever."""
        if self._inflight is None or now - self._inflight_since < COMMIT_DEADLINE:
            return
        handle = self._inflight[0]
        self.internal_error("commit", TimeoutError(f"staged changes still being applied after {COMMIT_DEADLINE:g} s: "
                                                   "abandoned"))
        abandon = getattr(handle, "abandon", None)
        if abandon is not None:
            try:
                abandon()
            except Exception as exc:  # noqa: BLE001
                self.internal_error("commit", exc)
        self._end_commit()

    def _end_commit(self) -> None:
        assert self._inflight is not None
        (handle, boundary), self._inflight = self._inflight, None
        if self._selector is not None:
            self._selector.unregister(handle)
        try:
            self.staged.finish(handle)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - logged; what was held still goes out
            self.internal_error("commit", exc)
        self._release(boundary)

    def _release(self, count: int) -> None:
        """Send the first ``count`` held items, in order."""
        held, self._held = self._held[:count], self._held[count:]
        for item in held:
            try:
                if isinstance(item, Send):
                    self._send(item)
                else:
                    item()
            except Exception as exc:  # noqa: BLE001
                self.internal_error("held_send", exc)

    def _send(self, action: Send) -> None:
        try:
            data = encode_packet(action.packet)
        except (ValueError, TypeError, AttributeError, struct.error) as exc:  # the core asked for the impossible
            self.counters["encode_errors"] += 1
            self.log("encode_error", error=repr(exc), iface=action.iface,
                     payload=type(getattr(action.packet, "payload", None)).__name__)
            return
        link_dst = action.link_dst
        if link_dst is not None and len(link_dst) != 6:  # e.g. from a link-layer address option of 2 units
            self.log("bad_link_dst", link_dst=link_dst.hex(), dst=action.packet.dst, iface=action.iface)
            link_dst = None
        try:
            link = self.links.get(action.iface) if action.iface else None
            dst = action.packet.dst
            if link is not None and (link_dst is not None or is_multicast(dst)):
                eth_dst = link_dst or multicast_mac(dst)
                link.send(eth_dst + link.mac + b"\x86\xdd" + data)
            elif link is not None and is_link_local(dst):  # needs the interface as its scope
                self.raw.send(data, link.name, link.index)
            else:
                self.raw.send(data)
            self.counters["sent"] += 1
        except OSError as exc:
            self.counters["send_errors"] += 1
            self.log("send_error", error=str(exc), dst=action.packet.dst, iface=action.iface)

    # -- control -------------------------------------------------------------------
    def _control(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "show":
            reply = {"ok": True, "daemon": self.name, "counters": dict(self.counters), "state": self.core.snapshot()}
            if self.extra_state is not None:
                reply.update(self.extra_state())
            return reply
        handler = self.commands.get(str(cmd))
        if handler is None:
            return {"ok": False, "error": f"unknown command {cmd!r} (known: show, {', '.join(self.commands)})"}
        result = handler(time.monotonic(), request.get("arg"))
        if isinstance(result, dict):
            self.commit()
            return result
        self.dispatch(result)
        self.commit()
        self.log("control", cmd=cmd, arg=request.get("arg"))
        return {"ok": True}

    # -- loop ----------------------------------------------------------------------
    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        wake_r, wake_w = socket.socketpair()  # a signal wakes select() at once (not after its timeout)
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno())
        sel = self._selector = selectors.DefaultSelector()
        for name, link in self.links.items():
            sel.register(link, selectors.EVENT_READ, name)
        sel.register(self.control, selectors.EVENT_READ, None)
        sel.register(wake_r, selectors.EVENT_READ, False)
        for fileobj, callback in self.readers.items():
            sel.register(fileobj, selectors.EVENT_READ, callback)
        self.dispatch(self.core.start(time.monotonic()))
        self.commit()
        self.log("ready", interfaces=list(self.links))
        try:
            while not self.stopping:
                deadline = self.core.next_deadline()
                timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
                holding = self._inflight is None and self.holding()
                if holding:
                    timeout = 0.0  # only look whether more frames wait: they join the batch to be committed
                    if self._hold_since is None:
                        self._hold_since = time.monotonic()
                events = sel.select(timeout)
                for key, _ in events:
                    if key.data is False:
                        continue  # woken by a signal; the handler has set self.stopping
                    try:
                        if key.data is None:
                            self.control.serve_one()
                        elif callable(key.data):
                            key.data()
                        else:
                            self._drain(key.data)
                    except Exception as exc:  # noqa: BLE001 - never fatal: counted, logged, the loop goes on
                        self.internal_error("control" if key.data is None else "reader" if callable(key.data)
                                            else "link", exc)
                try:
                    self.dispatch(self.core.tick(time.monotonic()))
                except Exception as exc:  # noqa: BLE001
                    self.internal_error("tick", exc)
                if holding and self._inflight is None and (
                        not events or time.monotonic() - self._hold_since >= COMMIT_AFTER):  # type: ignore[operator]
                    self._start_commit()
                self.check_commit_deadline(time.monotonic())
        finally:
            try:
                self.commit()  # what is staged and held, before the sockets close
            except Exception as exc:  # noqa: BLE001
                self.internal_error("commit", exc)
            signal.set_wakeup_fd(-1)
            wake_r.close()
            wake_w.close()
            sel.close()
            self.control.close()
            self.raw.close()
            for link in self.links.values():
                link.close()
            self.log("stopped")

    def _drain(self, iface: str) -> None:
        link = self.links[iface]
        if self.on_batch is not None and hasattr(link, "receive_batch"):
            self._drain_batches(iface, link)
            return
        for _ in range(MAX_BATCH):
            frame = link.receive()
            if frame is None:
                return
            self.counters["frames"] += 1
            self.frame(iface, frame)

    def _drain_batches(self, iface: str, link: LinkSocket) -> None:
        """Per-batch dispatch: each ``recvmmsg`` batch goes to :attr:`on_batch` in one call (the data plane's
        loop, no Python call per frame of its own traffic); it passes every frame it does not take, in order,
        to :meth:`frame`."""
        on_batch, frame, counters = self.on_batch, self.frame, self.counters
        for _ in range(MAX_BATCH // RECV_BATCH):
            frames = link.receive_batch()
            if not frames:
                return
            counters["frames"] += len(frames)
            try:
                on_batch(iface, frames, frame)  # type: ignore[misc]
            except Exception as exc:  # noqa: BLE001 - the data plane catches per frame; this is a last resort
                self.internal_error("batch", exc, iface=iface, frames=len(frames))
            if len(frames) < RECV_BATCH:
                return  # the socket is (almost surely) empty: no second system call; select() says if not

    def frame(self, iface: str, frame: bytes) -> None:
        """One received frame: the data plane's (``on_data``), else the core's if ``accept`` wants it."""
        try:
            if self.on_data is not None and self.on_data(iface, frame):
                return
            if self.accept(iface, frame):
                self.to_core(iface, frame)
        except Exception as exc:  # noqa: BLE001 - one frame must never end the daemon
            self.internal_error("frame", exc, iface=iface, head=frame[:64].hex())

    def internal_error(self, where: str, exc: BaseException, **fields: Any) -> None:
        """An exception that escaped the core, the data plane or a reader: count it, log it, carry on."""
        self.counters["internal_errors"] += 1
        self.log("internal_error", where=where, error=repr(exc),
                 traceback="".join(traceback.format_exception(exc, limit=-6))[-3000:], **fields)

    def to_core(self, iface: str, frame: bytes) -> None:
        """Decode an Ethernet frame and give its packet to the core (a malformed one is counted and logged)."""
        try:
            packet = decode_frame(frame).packet
        except DecodeError as exc:
            self.counters["decode_errors"] += 1
            self.log("decode_error", iface=iface, reason=str(exc), head=frame[:64].hex())
            return
        self.counters["to_core"] += 1
        self.dispatch(self.core.handle(time.monotonic(), iface, packet))


ICMPV6 = 58


def signalling_filter(protocols: frozenset[int] = frozenset(), icmp_types: frozenset[int] = frozenset()
                      ) -> Callable[[str, bytes], bool]:
    """An ``accept`` function passing frames whose upper layer is one of ``protocols`` or an ICMPv6
    message of one of ``icmp_types`` (and malformed ones, so the decoder can say why)."""
    def accept(iface: str, frame: bytes) -> bool:
        packet = fastpath.frame_payload(frame)
        if packet is None:
            return False
        found = fastpath.upper_layer(packet)
        if found is None:
            return True
        proto, offset = found
        return proto in protocols or (proto == ICMPV6 and offset < len(packet) and packet[offset] in icmp_types)
    return accept


def open_log(name: str, path: str | None) -> JsonLog:
    return JsonLog(name, open(path, "a", buffering=1) if path else sys.stderr)
