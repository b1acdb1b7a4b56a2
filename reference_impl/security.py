"""The one seam through which mobility signalling between mobile node and MAP is protected (base §12).

Every core passes each received packet through :meth:`SignallingSecurity.open` first and each outgoing BU/BA
through :meth:`SignallingSecurity.protect`:

- :class:`NullSecurity` (security off): plain packets pass, ESP/AH packets are left opaque (the cores ignore
  them).  A documented deviation from base §12.1, for labs that test without IPsec.
- :class:`IpsecSecurity`: manually keyed SA pairs (:class:`SaPair`) between a mobile node and a MAP.  Inbound
  ESP/AH (transport mode, :mod:`reference_impl.ipsec`) is looked up by SPI, checked against the anti-replay
  window (RFC 4303 §3.4.3), decapsulated, and checked against the pair's selectors (RFC 4301 §5.2); the
  packet is then handed on with the pair's name, which the MAP records as the owner of the RCoA it installs
  (base §12.1: "A MAP only needs to ensure that a BU for a particular RCoA was issued by the same mobile node
  that established the Security Association for that RCoA").  Plain BUs/BAs are refused by the cores when
  :attr:`required` is set (base §12.1: "Binding updates between the MAP and the mobile node MUST be protected
  with either AH or ESP in transport mode").

Keys are configured, not negotiated: IKE/IKEv2 (RFC 4877) is not implemented.  :class:`SaPair` is what an IKEv2
exchange would produce, so a key-exchange module can add pairs through :meth:`IpsecSecurity.add` later.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any, Protocol

from .ipsec import (
    IpsecError, ReplayWindow, SaConfigError, SecurityAssociation, SequenceCounter, ah_decapsulate, ah_encapsulate,
    ah_length, ah_spi, esp_decapsulate, esp_encapsulate, esp_spi,
)
from .wire.errors import DecodeError
from .wire.ipv6 import NH_AH, NH_ESP, NH_MOBILITY, Packet, RawPayload, decode_packet, encode_packet
from .wire.mobility import encode_mh

__all__ = ["IpsecSecurity", "NullSecurity", "SaConfigError", "SaPair", "SecurityDrop", "SequenceStore",
           "SignallingSecurity", "security_from_config"]


class SecurityDrop(Exception):
    """A received packet that must be silently discarded; the message says which check refused it."""


class SignallingSecurity(Protocol):
    required: bool

    def open(self, packet: Packet) -> tuple[Packet, str | None]:
        """The plain packet behind a received one and the name of the SA pair that protected it (None: it
        arrived unprotected).  Raises :class:`SecurityDrop`."""

    def protect(self, packet: Packet, pair: str | None) -> Packet:
        """The packet to transmit for an outgoing BU/BA, protected with ``pair`` (None: unprotected)."""

    def pair_for(self, map_address: bytes, rcoa: bytes) -> str | None:
        """The mobile node's SA pair for BUs about ``rcoa`` to ``map_address``, or None."""

    def permits(self, pair: str | None, map_address: bytes, rcoa: bytes | None) -> bool:
        """Whether ``pair``'s selectors cover signalling about ``rcoa`` (None: no RCoA to check) with
        ``map_address``."""

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state for ``show`` (no keys)."""


class NullSecurity:
    """Security off: accepts everything, protects nothing (a documented deviation from base §12's MUSTs)."""

    required = False

    def open(self, packet: Packet) -> tuple[Packet, str | None]:
        return packet, None

    def protect(self, packet: Packet, pair: str | None) -> Packet:
        return packet

    def pair_for(self, map_address: bytes, rcoa: bytes) -> str | None:
        return None

    def permits(self, pair: str | None, map_address: bytes, rcoa: bytes | None) -> bool:
        return True

    def snapshot(self) -> dict[str, Any]:
        return {"ipsec": "off"}


@dataclasses.dataclass(frozen=True)
class SaPair:
    """Two manually keyed SAs between one mobile node and MAP(s): ``to_map`` protects BUs, ``to_mn`` BAs.

    Selectors (RFC 4301 §4.4.1): ``map`` the MAP address(es), ``rcoa`` the RCoA(s) the mobile node may
    register under this pair -- base §12.1: "The MAP needs to set the SA for the RCoA (not the LCoA)".
    """

    name: str
    map: ipaddress.IPv6Network
    rcoa: ipaddress.IPv6Network
    to_map: SecurityAssociation
    to_mn: SecurityAssociation

    @classmethod
    def from_config(cls, raw: dict[str, Any], where: str = "security.sas") -> "SaPair":
        if not isinstance(raw, dict):
            raise SaConfigError(f"{where}: each SA pair must be a mapping")
        unknown = set(raw) - {"name", "map", "rcoa", "to_map", "to_mn"}
        if unknown:
            raise SaConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))} "
                                "(allowed: name, map, rcoa, to_map, to_mn)")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise SaConfigError(f"{where}: 'name' is required")
        where = f"{where}[{name}]"
        try:
            selectors = {key: ipaddress.IPv6Network(str(raw.get(key, "::/0")), strict=False)
                         for key in ("map", "rcoa")}
        except ValueError as exc:
            raise SaConfigError(f"{where}: {exc}") from None
        sas = {}
        for key in ("to_map", "to_mn"):
            if not isinstance(raw.get(key), dict):
                raise SaConfigError(f"{where}: '{key}' (the SA protecting BUs to the MAP / BAs to the MN) is required")
            try:
                sas[key] = SecurityAssociation.from_config(raw[key])
            except SaConfigError as exc:
                raise SaConfigError(f"{where}.{key}: {exc}") from None
        return cls(name, selectors["map"], selectors["rcoa"], sas["to_map"], sas["to_mn"])


@dataclasses.dataclass
class _Inbound:
    pair: SaPair
    sa: SecurityAssociation
    window: ReplayWindow


@dataclasses.dataclass
class _Outbound:
    pair: SaPair
    sa: SecurityAssociation
    counter: SequenceCounter


class SequenceStore(Protocol):
    """Where a daemon keeps its outbound sequence numbers' high-water marks across restarts (the I/O is the
    daemon's: :mod:`reference_impl.daemon.seqfile`)."""

    def start(self, key: str) -> int: ...

    def reserve(self, key: str, mark: int) -> None: ...


class IpsecSecurity:
    """ESP/AH transport mode with manually keyed SA pairs, for a MAP (``side="map"``) or a mobile node (``"mn"``).

    Counters (``dropped``, ``opened``, ``protected``) and the last drop reasons feed the daemon's ``show``.
    """

    required = True

    def __init__(self, pairs: list[SaPair], side: str, sequences: SequenceStore | None = None) -> None:
        if side not in ("map", "mn"):
            raise ValueError("side must be 'map' or 'mn'")
        self.side = side
        self.sequences = sequences
        self._pairs: dict[str, SaPair] = {}
        self._inbound: dict[int, _Inbound] = {}
        self._outbound: dict[str, _Outbound] = {}
        self.counters = {"opened": 0, "dropped": 0, "protected": 0}
        for pair in pairs:
            self.add(pair)

    def add(self, pair: SaPair) -> None:
        """Install a pair (from configuration, the control socket, or -- one day -- IKEv2)."""
        if pair.name in self._pairs:
            raise SaConfigError(f"SA pair {pair.name!r} already installed")
        inbound, outbound = (pair.to_map, pair.to_mn) if self.side == "map" else (pair.to_mn, pair.to_map)
        if inbound.spi in self._inbound:
            raise SaConfigError(f"SA pair {pair.name!r}: inbound SPI {inbound.spi:#x} already used by "
                                f"{self._inbound[inbound.spi].pair.name!r}")
        self._pairs[pair.name] = pair
        self._inbound[inbound.spi] = _Inbound(pair, inbound, ReplayWindow(inbound.replay_window))
        self._outbound[pair.name] = _Outbound(pair, outbound, self._counter(pair.name, outbound.spi))

    def _counter(self, name: str, spi: int) -> SequenceCounter:
        """The outbound counter of an SA: continuing from the stored high-water mark when there is a store."""
        if self.sequences is None:
            return SequenceCounter()
        key = f"{name}/{spi:#x}"
        return SequenceCounter(self.sequences.start(key), lambda mark: self.sequences.reserve(key, mark))

    @property
    def pairs(self) -> list[str]:
        return list(self._pairs)

    # -- inbound ---------------------------------------------------------------------------------------------
    def open(self, packet: Packet) -> tuple[Packet, str | None]:
        payload = packet.payload
        if not isinstance(payload, RawPayload) or payload.next_header not in (NH_ESP, NH_AH):
            return packet, None
        try:
            plain, pair = self._open(packet, payload)
        except SecurityDrop:
            self.counters["dropped"] += 1
            raise
        self.counters["opened"] += 1
        return plain, pair

    def _open(self, packet: Packet, payload: RawPayload) -> tuple[Packet, str]:
        esp = payload.next_header == NH_ESP
        try:
            spi, seq = esp_spi(payload.data) if esp else ah_spi(payload.data)
        except IpsecError as exc:
            raise SecurityDrop(str(exc)) from None
        entry = self._inbound.get(spi)
        if entry is None or entry.sa.protocol != ("esp" if esp else "ah"):
            raise SecurityDrop(f"no inbound {'ESP' if esp else 'AH'} SA with SPI {spi:#x} (RFC 4303 §3.4.2)")
        why = entry.window.check(seq)
        if why is not None:
            raise SecurityDrop(f"SA {entry.pair.name}: sequence number {seq}: {why} (RFC 4303 §3.4.3)")
        try:
            if esp:
                inner = esp_decapsulate(entry.sa, payload.data)
            else:
                inner = ah_decapsulate(entry.sa, payload.headers, payload.data)
        except IpsecError as exc:
            raise SecurityDrop(f"SA {entry.pair.name}: {exc}") from None
        entry.window.accept(inner.seq)  # only after the ICV verified (RFC 4303 §3.4.3)
        if inner.next_header != NH_MOBILITY:
            raise SecurityDrop(f"SA {entry.pair.name}: protects next header {inner.next_header}, "
                               "not a Mobility Header (only signalling is protected)")
        try:
            plain = decode_packet(encode_packet(dataclasses.replace(
                packet, payload=RawPayload(NH_MOBILITY, inner.payload))))
        except (DecodeError, ValueError) as exc:
            raise SecurityDrop(f"SA {entry.pair.name}: protected Mobility Header: {exc}") from None
        map_address, rcoa = (plain.dst, plain.home_address) if self.side == "map" else (plain.src, plain.rh2_address)
        # no RCoA on the packet (no HAO / no type 2 routing header): only the MAP selector applies here, the core
        # then discards the message for what it lacks (base §6.1, §6.2)
        if not self.permits(entry.pair.name, map_address, rcoa):
            raise SecurityDrop(f"SA {entry.pair.name}: selectors (MAP {entry.pair.map}, RCoA {entry.pair.rcoa}) "
                               "do not cover this packet (RFC 4301 §5.2)")
        return plain, entry.pair.name

    # -- outbound --------------------------------------------------------------------------------------------
    def protect(self, packet: Packet, pair: str | None) -> Packet:
        if pair is None:
            return packet
        out = self._outbound[pair]
        seq = out.counter.next()
        mh = encode_packet(packet)
        mh = mh[len(mh) - len(encode_mh(packet.payload)):]  # the Mobility Header with its checksum
        self.counters["protected"] += 1
        if out.sa.protocol == "esp":
            return dataclasses.replace(packet, payload=RawPayload(NH_ESP, esp_encapsulate(out.sa, seq, NH_MOBILITY, mh)))
        size = ah_length(out.sa)
        placeholder = encode_packet(dataclasses.replace(packet, payload=RawPayload(NH_AH, bytes(size) + mh)))
        headers = placeholder[: len(placeholder) - size - len(mh)]
        ah = ah_encapsulate(out.sa, seq, headers, NH_MOBILITY, mh)
        return dataclasses.replace(packet, payload=RawPayload(NH_AH, ah + mh))

    # -- selectors -------------------------------------------------------------------------------------------
    def pair_for(self, map_address: bytes, rcoa: bytes) -> str | None:
        """The most specific pair (longest MAP selector, then RCoA selector) covering ``rcoa`` at ``map_address``."""
        best = None
        for pair in self._pairs.values():
            if self.permits(pair.name, map_address, rcoa):
                key = (pair.map.prefixlen, pair.rcoa.prefixlen)
                if best is None or key > best[0]:
                    best = (key, pair.name)
        return None if best is None else best[1]

    def permits(self, pair: str | None, map_address: bytes, rcoa: bytes | None) -> bool:
        """Whether ``pair``'s selectors cover ``map_address`` and ``rcoa`` (None: no RCoA to check)."""
        entry = self._pairs.get(pair) if pair is not None else None
        if entry is None:
            return False
        return (ipaddress.IPv6Address(map_address) in entry.map
                and (rcoa is None or ipaddress.IPv6Address(rcoa) in entry.rcoa))

    def snapshot(self) -> dict[str, Any]:
        return {"ipsec": "on", "pairs": [{"name": p.name, "map": str(p.map), "rcoa": str(p.rcoa),
                           "protocol": p.to_map.protocol, "auth": p.to_map.auth,
                           "encryption": p.to_map.encryption} for p in self._pairs.values()],
                **self.counters}


def security_from_config(raw: Any, side: str, where: str = "security",
                         sequences: SequenceStore | None = None) -> NullSecurity | IpsecSecurity:
    """The seam a daemon's ``security:`` section asks for: absent or ``{ipsec: off}`` -> :class:`NullSecurity`;
    ``{sas: [...]}`` -> :class:`IpsecSecurity`.  Raises :class:`SaConfigError` (e.g. ESP with null
    authentication, refused by base §12.1)."""
    if raw is None:
        return NullSecurity()
    if not isinstance(raw, dict):
        raise SaConfigError(f"{where}: must be a mapping")
    unknown = set(raw) - {"ipsec", "sas"}
    if unknown:
        raise SaConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))} (allowed: ipsec, sas)")
    if raw.get("ipsec", "on") in ("off", False):
        return NullSecurity()
    sas = raw.get("sas")
    if not isinstance(sas, list) or not sas:
        raise SaConfigError(f"{where}: ipsec on needs a non-empty 'sas' list (manually keyed SA pairs; "
                            "IKE is not implemented)")
    return IpsecSecurity([SaPair.from_config(p, f"{where}.sas[{i}]") for i, p in enumerate(sas)], side, sequences)
