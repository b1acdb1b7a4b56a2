"""The one seam every Mobility Header the tester sends or receives passes through (base §12.1).

:class:`NoProtection` when the testbed's IPsec is off.  :class:`IpsecProtection` holds every SA pair of the testbed
(harness.testbed.security) and uses scapy's ``SecurityAssociation`` for the cryptography -- independent of the
reference implementation's own ESP/AH code, which it must interoperate with.  Around scapy it works around:

- ESP transport mode in scapy puts a trailing Destination Options header (the Home Address option) *inside* the
  ESP payload; Mobile IPv6 needs it before ESP (RFC 6275 §6.3).  The tester therefore encrypts only the Mobility
  Header and splices the ESP bytes behind the packet's own extension headers.
- scapy's AH does not apply RFC 6275 §6.3's rule that the ICV is computed as if the home address were the source
  and the care-of address in the option; the tester swaps them around scapy's signing and verification.
- scapy's decryption after an extension header returns mis-layered objects: the tester decrypts an ESP payload
  behind a bare 40-octet header and re-parses the reassembled bytes.

Receiving is stateless (frames are decoded lazily, in any order): SPI lookup, ICV, decryption.  Anti-replay is a
judgement a test makes over the sequence numbers of the frames in capture order (``pkt.ipsec.seq``), not a filter.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct
from typing import Protocol

from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting
from scapy.layers.ipsec import AH, AUTH_ALGOS, ESP, IPSecIntegrityError, SecurityAssociation
from scapy.packet import Raw

AUTO = "auto"  # let the seam choose the SA pair (see IpsecProtection.protect)
_ESP, _AH, _MH = 50, 51, 135
_EXT = (0, 43, 60)
_SCAPY_AUTH = {"hmac-sha1-96": "HMAC-SHA1-96", "hmac-sha256-128": "SHA2-256-128"}
_SCAPY_ENC = {"null": "NULL", "aes-cbc": "AES-CBC"}


@dataclasses.dataclass(frozen=True)
class IpsecInfo:
    """How a received or sent Mobility Header was protected."""

    pair: str
    direction: str  # to_map | to_mn
    protocol: str  # esp | ah
    spi: int
    seq: int


@dataclasses.dataclass(frozen=True)
class Opened:
    """The result of :meth:`MhProtection.unprotect`: ``ipv6`` the plain packet (None: verification failed, see
    ``error``), ``ipsec`` how it was protected (None: it was not)."""

    ipv6: bytes | None
    ipsec: IpsecInfo | None = None
    error: str | None = None


class MhProtection(Protocol):
    name: str

    def protect(self, ipv6: bytes, sa: str | None = AUTO) -> bytes:
        """What goes on the wire for an IPv6 packet carrying a Mobility Header; ``sa``: an SA pair name, None for
        no protection, AUTO for the seam's choice."""

    def unprotect(self, ipv6: bytes) -> Opened:
        """The plain packet behind a received one."""


class NoProtection:
    """Mobility Headers travel unprotected."""

    name = "none"

    def protect(self, ipv6: bytes, sa: str | None = AUTO) -> bytes:
        if sa not in (AUTO, None):
            raise ValueError(f"SA pair {sa!r} requested but the testbed's IPsec is off")
        return ipv6

    def unprotect(self, ipv6: bytes) -> Opened:
        return Opened(ipv6)


@dataclasses.dataclass
class _Sa:
    pair: object  # SaPairSpec
    direction: str
    spec: object  # SaSpec
    scapy: SecurityAssociation
    seq: int = 0


class IpsecProtection:
    """ESP/AH transport mode with the testbed's SA pairs (``security.pairs``).

    Sending: a BU is protected with ``to_map`` of the pair the tester holds as a mobile node (``tester1@MAP`` by
    default; another identity by name), a BA with ``to_mn`` of the pair the tester holds as a MAP for that mobile
    node.  Receiving: any SA of the testbed, so signalling between two testbed nodes can be read too.
    """

    name = "ipsec"

    def __init__(self, pairs) -> None:
        self.pairs = list(pairs)
        self._by_name = {p.name: p for p in self.pairs}
        self._sas: dict[tuple[str, str], _Sa] = {}
        self._by_spi: dict[tuple[int, int], _Sa] = {}
        for pair in self.pairs:
            for direction in ("to_map", "to_mn"):
                spec = getattr(pair, direction)
                sa = _Sa(pair, direction, spec, _scapy_sa(spec))
                self._sas[(pair.name, direction)] = sa
                self._by_spi[(_ESP if spec.protocol == "esp" else _AH, spec.spi)] = sa

    # -- choosing ----------------------------------------------------------------------------------------------
    def pair_for(self, mh_type: int, src: str, dst: str, home: str | None, rh2: str | None) -> str | None:
        """The pair the tester uses for an outgoing BU (5) or BA (6), or None."""
        if mh_type == 5 and home is not None:
            for p in self.pairs:
                if p.mn is None and p.covers(dst, home):
                    return p.name
        if mh_type == 6 and rh2 is not None:
            for p in self.pairs:
                if p.map_node is None and p.covers(src, rh2):
                    return p.name
        return None

    # -- sending -----------------------------------------------------------------------------------------------
    def protect(self, ipv6: bytes, sa: str | None = AUTO) -> bytes:
        if sa is None:
            return ipv6
        layout = _layout(ipv6)
        if layout is None or layout.upper_nh != _MH:
            return ipv6
        mh = ipv6[layout.upper:]
        mh_type = mh[2] if len(mh) > 2 else -1
        if sa == AUTO:
            sa = self.pair_for(mh_type, layout.src, layout.dst, layout.home, layout.rh2)
            if sa is None:
                return ipv6
        if sa not in self._by_name:
            raise KeyError(f"no SA pair {sa!r} in the testbed")
        direction = "to_mn" if mh_type == 6 else "to_map"
        out = self._sas[(sa, direction)]
        out.seq += 1
        return _encapsulate(ipv6, out.spec.protocol, out.spec.spi, out.spec.auth, out.scapy, out.seq)

    @staticmethod
    def forge(ipv6: bytes, spi: int, seq: int, *, protocol: str = "esp", encryption: str = "null",
              enc_key: bytes | None = None, auth: str = "null", auth_key: bytes | None = None) -> bytes:
        """``ipv6`` protected with an SA the testbed does not hold: a wrong key, or ESP with null authentication
        (``auth="null"``, which base §12.1 forbids) -- for the negative security purposes."""
        if protocol == "esp":
            sa = SecurityAssociation(ESP, spi=spi, crypt_algo=_SCAPY_ENC[encryption], crypt_key=enc_key,
                                     auth_algo="NULL" if auth == "null" else _SCAPY_AUTH[auth], auth_key=auth_key)
        else:
            sa = SecurityAssociation(AH, spi=spi, auth_algo=_SCAPY_AUTH[auth], auth_key=auth_key)
        return _encapsulate(ipv6, protocol, spi, auth, sa, seq)

    # -- receiving ---------------------------------------------------------------------------------------------
    def unprotect(self, ipv6: bytes) -> Opened:
        layout = _layout(ipv6)
        if layout is None or layout.upper_nh not in (_ESP, _AH):
            return Opened(ipv6)
        body = ipv6[layout.upper:]
        if len(body) < 12:
            return Opened(None, error="ESP/AH header truncated")
        spi, seq = struct.unpack_from("!II", body, 0 if layout.upper_nh == _ESP else 4)
        sa = self._by_spi.get((layout.upper_nh, spi))
        proto = "ESP" if layout.upper_nh == _ESP else "AH"
        if sa is None:
            return Opened(None, error=f"no {proto} SA with SPI {spi:#x} in the testbed")
        info = IpsecInfo(sa.pair.name, sa.direction, sa.spec.protocol, spi, seq)
        headers = bytearray(ipv6[: layout.upper])
        try:
            if layout.upper_nh == _ESP:
                plain = sa.scapy.decrypt(IPv6(bytes(IPv6(src=layout.src, dst=layout.dst, nh=_ESP, plen=len(body))) + body))
                raw = bytes(plain)
                nh, mh = IPv6(raw[:40]).nh, raw[40:]
            else:
                pkt = IPv6(ipv6)
                view = _as_if_home(_as_at_destination(pkt))
                sa.scapy.auth_algo.verify(view, sa.scapy.auth_key)
                ah_len = (body[1] + 2) * 4
                nh, mh = body[0], body[ah_len:]
        except (IPSecIntegrityError, ValueError, TypeError, IndexError) as exc:
            return Opened(None, info, f"{proto} SPI {spi:#x} ({sa.pair.name}): {exc}")
        if nh != _MH:
            return Opened(None, info, f"{proto} SPI {spi:#x} protects next header {nh}, not a Mobility Header")
        headers[layout.nh_at] = nh
        struct.pack_into("!H", headers, 4, len(headers) - 40 + len(mh))
        return Opened(bytes(headers) + mh, info)

    def sa(self, pair: str, direction: str) -> _Sa:
        return self._sas[(pair, direction)]


def _encapsulate(ipv6: bytes, protocol: str, spi: int, auth: str, sa: SecurityAssociation, seq: int) -> bytes:
    """The packet with its Mobility Header protected: ESP or AH behind the packet's own extension headers."""
    layout = _layout(ipv6)
    headers, mh = bytearray(ipv6[: layout.upper]), ipv6[layout.upper:]
    if protocol == "esp":
        enc = sa.encrypt(IPv6(src=layout.src, dst=layout.dst, nh=_MH) / Raw(mh), seq_num=seq)
        body = bytes(enc)[40:]
        headers[layout.nh_at] = _ESP
        struct.pack_into("!H", headers, 4, len(headers) - 40 + len(body))
        return bytes(headers) + body
    icv = AUTH_ALGOS[_SCAPY_AUTH[auth]].icv_size
    ah = AH(nh=_MH, spi=spi, seq=seq, icv=b"\0" * icv)
    ah.padding = b"\0" * (-len(ah) % 8)
    ah.payloadlen = len(ah) // 4 - 2
    headers[layout.nh_at] = _AH
    struct.pack_into("!H", headers, 4, len(headers) - 40 + len(ah) + len(mh))
    pkt = IPv6(bytes(headers) + bytes(ah) + mh)
    signed = _as_if_home(pkt)
    sa.auth_algo.sign(signed, sa.auth_key)  # routing header: scapy orders it as at the receiver
    field = len(pkt[AH].icv)  # the ICV and its padding to 8 octets (RFC 4302 §2.6)
    pkt[AH].icv = signed[AH].icv + b"\0" * (field - len(signed[AH].icv))
    return bytes(pkt)


def for_testbed(security) -> MhProtection:
    """The seam for a testbed's ``security`` section."""
    return IpsecProtection(security.pairs) if security.on else NoProtection()


# -- helpers --------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Layout:
    src: str
    dst: str
    home: str | None
    rh2: str | None
    nh_at: int  # offset of the next-header octet that names the upper layer
    upper: int  # offset of the upper layer
    upper_nh: int


def _layout(ipv6: bytes) -> _Layout | None:
    """Where the headers end, walked on bytes (HBH, routing, destination options)."""
    if len(ipv6) < 40 or ipv6[0] >> 4 != 6:
        return None
    nh_at, nh, pos = 6, ipv6[6], 40
    home = rh2 = None
    while nh in _EXT:
        if pos + 8 > len(ipv6):
            return None
        size = (ipv6[pos + 1] + 1) * 8
        if nh == 43 and ipv6[pos + 2] == 2 and size == 24 and pos + 24 <= len(ipv6):
            rh2 = str(ipaddress.IPv6Address(ipv6[pos + 8: pos + 24]))
        elif nh == 60:
            at = pos + 2
            while at + 2 <= min(pos + size, len(ipv6)):
                if ipv6[at] == 0:
                    at += 1
                    continue
                if ipv6[at] == 201 and ipv6[at + 1] == 16 and at + 18 <= len(ipv6):
                    home = str(ipaddress.IPv6Address(ipv6[at + 2: at + 18]))
                at += 2 + ipv6[at + 1]
        nh_at, nh, pos = pos, ipv6[pos], pos + size
    if pos > len(ipv6):
        return None
    return _Layout(str(ipaddress.IPv6Address(ipv6[8:24])), str(ipaddress.IPv6Address(ipv6[24:40])),
                   home, rh2, nh_at, pos, nh)


def _as_if_home(pkt):
    """A copy with the source and the Home Address option swapped (RFC 6275 §6.3: the ICV is computed as if the
    home address were the source and the care-of address in the option)."""
    pkt = pkt.copy()
    dest = pkt.getlayer(IPv6ExtHdrDestOpt)
    if dest is not None:
        for opt in dest.options:
            if isinstance(opt, HAO):
                pkt[IPv6].src, opt.hoa = opt.hoa, pkt[IPv6].src
    return pkt


def _as_at_destination(pkt):
    """A received packet with its type 2 routing header processed as at the final destination (RFC 6275 §6.4)."""
    pkt = pkt.copy()
    rh = pkt.getlayer(IPv6ExtHdrRouting)
    if rh is not None and rh.type == 2 and rh.segleft == 1 and rh.addresses:
        pkt[IPv6].dst, rh.addresses = rh.addresses[0], [pkt[IPv6].dst]
        rh.segleft = 0
    return pkt


def _scapy_sa(spec) -> SecurityAssociation:
    key = bytes.fromhex(spec.auth_key.reveal())
    if spec.protocol == "esp":
        enc = spec.encryption
        return SecurityAssociation(
            ESP, spi=spec.spi, crypt_algo=_SCAPY_ENC[enc],
            crypt_key=bytes.fromhex(spec.enc_key.reveal()) if spec.enc_key is not None else None,
            auth_algo=_SCAPY_AUTH[spec.auth], auth_key=key)
    return SecurityAssociation(AH, spi=spec.spi, auth_algo=_SCAPY_AUTH[spec.auth], auth_key=key)
