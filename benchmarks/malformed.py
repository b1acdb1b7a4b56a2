"""Malformed (and deliberately odd) IPv6 frames for fuzzing and the soak (issue 9), and the byte-level mutation
engine the fuzz tests share.

* :func:`layout` walks packet bytes -- independently of the reference codec -- and names the fields worth lying
  about: the IPv6 payload length, extension header and option lengths, routing header type and segments left, the
  Mobility Header length and type, mobility and ND option lengths, the MAP option's length and fields.
  :func:`apply_lie` / :func:`mutate` lie there (and truncate, overflow, flip, insert, delete);
  :func:`fix_payload_length` / :func:`fix_checksum` repair the lie's side effects so the receiver's decoder gets
  past its first checks and meets the lie deep inside (RFC 1071 sum, RFC 6275 §6.1.1 pseudo-header).
* :class:`Generator` builds random messages of every kind the reference codec knows (Binding Update,
  Acknowledgement, Error, Refresh Request, return-routability and unknown MH types, RA with MAP options, RS, NS,
  NA, echo, ICMPv6 errors, IPv6-in-IPv6), aims them at the nodes of a :class:`World`, and turns them into frames:
  structurally valid with random field values, mutated, truncated, or random bytes.
* :meth:`World.harmless`: a frame is only used if what it would legitimately do cannot touch protected state --
  decodable packets from or about protected addresses (the bindings a soak checks, the routers and correspondents
  of the mobile node), Router Advertisements that MAP-facing routers would learn, Neighbor Discovery naming a
  protected address.  Unauthenticated signalling can redirect traffic (base §12 without IPsec, dynamic discovery
  without SEND): that is the protocol, not a robustness defect, so the soak does not send it.
"""

from __future__ import annotations

import dataclasses
import random
import struct

# --- an independent layout walk: where the length fields and options are -------------------------------------------

@dataclasses.dataclass(frozen=True)
class Field:
    kind: str  # "plen", "ext_len", "opt_len", "rh_type", "rh_segleft", "mh_len", "mh_type", "mhopt_len",
    #            "icmp_type", "icmp_code", "ndopt_len", "map_len", "map_distpref", "map_rres", "map_lifetime", "nh"
    offset: int
    size: int = 1


_MH_FIXED = {0: 2, 5: 6, 6: 6, 7: 18}
_ND_FIXED = {133: 4, 134: 12, 135: 20, 136: 20}


def layout(data: bytes, base: int = 0, depth: int = 0) -> list[Field]:
    """The fields worth lying about in the IPv6 packet at ``data[base:]`` (best effort, never raises)."""
    out: list[Field] = []
    if len(data) - base < 40 or depth > 4:
        return out
    out += [Field("plen", base + 4, 2), Field("nh", base + 6), Field("hlim", base + 7)]
    end = min(len(data), base + 40 + int.from_bytes(data[base + 4:base + 6], "big"))
    nh, pos = data[base + 6], base + 40
    while nh in (0, 43, 60) and pos + 2 <= end:
        size = (data[pos + 1] + 1) * 8
        out += [Field("nh", pos), Field("ext_len", pos + 1)]
        if nh == 43 and pos + 4 <= end:
            out += [Field("rh_type", pos + 2), Field("rh_segleft", pos + 3)]
        else:
            o = pos + 2
            while o < min(pos + size, end):
                if data[o] == 0:
                    o += 1
                    continue
                if o + 1 >= end:
                    break
                out.append(Field("opt_len", o + 1))
                o += 2 + data[o + 1]
        nh, pos = data[pos], pos + size
    if pos >= end:
        return out
    if nh == 135 and pos + 8 <= end:
        out += [Field("mh_len", pos + 1), Field("mh_type", pos + 2)]
        fixed = _MH_FIXED.get(data[pos + 2])
        mh_end = min(end, pos + (data[pos + 1] + 1) * 8)
        if fixed is not None:
            o = pos + 6 + fixed
            while o < mh_end:
                if data[o] == 0:
                    o += 1
                    continue
                if o + 1 >= mh_end:
                    break
                out.append(Field("mhopt_len", o + 1))
                o += 2 + data[o + 1]
    elif nh == 58 and pos + 4 <= end:
        out += [Field("icmp_type", pos), Field("icmp_code", pos + 1)]
        fixed = _ND_FIXED.get(data[pos])
        if fixed is not None:
            o = pos + 4 + fixed
            while o + 2 <= end:
                units = data[o + 1]
                out.append(Field("ndopt_len", o + 1))
                if data[o] == 23:
                    out += [Field("map_len", o + 1), Field("map_distpref", o + 2), Field("map_rres", o + 3),
                            Field("map_lifetime", o + 4, 4)]
                if units == 0:
                    break
                o += units * 8
    elif nh == 41:
        out += layout(data, pos, depth + 1)
    return out


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def fix_checksum(data: bytearray, base: int = 0, depth: int = 0) -> None:
    """Recompute the ICMPv6 / Mobility Header checksum of the packet at ``data[base:]`` in place (pseudo-header
    source = Home Address option, destination = type 2 routing header address: RFC 6275 §6.1.1, RFC 8200 §8.1).
    Best effort: a packet too broken to find its upper layer is left alone."""
    if len(data) - base < 40 or depth > 4:
        return
    end = min(len(data), base + 40 + int.from_bytes(data[base + 4:base + 6], "big"))
    src, dst = bytes(data[base + 8:base + 24]), bytes(data[base + 24:base + 40])
    nh, pos = data[base + 6], base + 40
    while nh in (0, 43, 60) and pos + 2 <= end:
        size = (data[pos + 1] + 1) * 8
        if nh == 43 and pos + 24 <= end and data[pos + 2] == 2 and size == 24:
            dst = bytes(data[pos + 8:pos + 24])
        if nh == 60:
            o = pos + 2
            while o < min(pos + size, end):
                if data[o] == 0:
                    o += 1
                    continue
                if o + 1 >= end:
                    break
                if data[o] == 201 and data[o + 1] == 16 and o + 18 <= end:
                    src = bytes(data[o + 2:o + 18])
                o += 2 + data[o + 1]
        nh, pos = data[pos], pos + size
    if nh == 41:
        fix_checksum(data, pos, depth + 1)
        return
    if nh not in (58, 135) or pos >= end:
        return
    at = pos + (2 if nh == 58 else 4)
    upper_end = end if nh == 58 else min(end, pos + (data[pos + 1] + 1) * 8 if pos + 1 < end else end)
    if at + 2 > upper_end:
        return
    data[at:at + 2] = b"\0\0"
    upper = bytes(data[pos:upper_end])
    value = ~_sum16(src + dst + struct.pack("!I3xB", len(upper), nh) + upper) & 0xFFFF
    data[at:at + 2] = value.to_bytes(2, "big")


def fix_payload_length(data: bytearray, base: int = 0) -> None:
    """Make the IPv6 payload length at ``data[base:]`` (and of nested IPv6-in-IPv6 headers) match the bytes."""
    while len(data) - base >= 40:
        data[base + 4:base + 6] = min(0xFFFF, len(data) - base - 40).to_bytes(2, "big")
        if data[base + 6] != 41:
            return
        base += 40


LIES = ("truncate", "plen", "ext_len", "opt_len", "mh_len", "mhopt_len", "ndopt_len", "nd_len_zero", "map_len",
        "overflow", "flip", "set", "insert", "delete", "rh_type", "rh_segleft", "mh_type", "icmp_type")


def apply_lie(data: bytearray, kind: str, rnd: random.Random) -> str:
    """One structure-aware mutation of the IPv6 packet ``data`` in place; returns what was done."""
    fields = layout(bytes(data))
    def pick(*kinds: str) -> Field | None:
        chosen = [f for f in fields if f.kind in kinds]
        return rnd.choice(chosen) if chosen else None
    if not data:
        return "empty"
    if kind == "truncate":
        cut = rnd.randrange(len(data))
        del data[cut:]
        return f"truncate@{cut}"
    if kind in ("plen", "ext_len", "opt_len", "mh_len", "mhopt_len", "ndopt_len", "map_len", "rh_type",
                "rh_segleft", "mh_type", "icmp_type"):
        f = pick(kind)
        if f is None:
            return f"no {kind}"
        old = int.from_bytes(data[f.offset:f.offset + f.size], "big")
        top = (1 << (8 * f.size)) - 1
        if kind == "map_len":
            new = rnd.choice([0, 1, 2, 4, 5, 255])
        else:
            new = rnd.choice([0, 1, top, old + 1, old - 1, old + 8, old - 8, old * 2, rnd.randrange(top + 1)])
        data[f.offset:f.offset + f.size] = (new & top).to_bytes(f.size, "big")
        return f"{kind}@{f.offset}:{old}->{new & top}"
    if kind == "nd_len_zero":
        f = pick("ndopt_len")
        if f is None:
            return "no nd option"
        data[f.offset] = 0
        return f"nd_len_zero@{f.offset}"
    if kind == "overflow":
        f = rnd.choice(fields) if fields else Field("byte", rnd.randrange(len(data)))
        data[f.offset:f.offset + f.size] = b"\xff" * f.size
        return f"overflow {f.kind}@{f.offset}"
    i = rnd.randrange(len(data))
    if kind == "flip":
        data[i] ^= 1 << rnd.randrange(8)
    elif kind == "set":
        data[i] = rnd.randrange(256)
    elif kind == "insert":
        data[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
    elif kind == "delete":
        del data[i:i + rnd.randint(1, 16)]
    return f"{kind}@{i}"


def mutate(packet: bytes, rnd: random.Random, lies: int = 2, repair: bool | None = None) -> bytes:
    """``lies`` structure-aware mutations; then, with ``repair`` (random when None), the payload length and the
    checksum are made consistent again so the decoder gets past them (a truncation keeps its lie either way)."""
    data = bytearray(packet)
    for _ in range(lies):
        apply_lie(data, rnd.choice(LIES), rnd)
    if repair is None:
        repair = rnd.random() < 0.7
    if repair and data:
        if rnd.random() < 0.5:
            fix_payload_length(data)
        fix_checksum(data)
    return bytes(data)




# --- what to aim at, and what must not be touched -----------------------------------------------------------------

ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"
ALL_ROUTERS_MAC = b"\x33\x33\x00\x00\x00\x02"


@dataclasses.dataclass(frozen=True)
class Target:
    """A daemon's interface frames are aimed at: ``link`` (the testbed's name), its MAC and IPv6 address there."""

    name: str  # e.g. "map1/dom1"
    link: str
    mac: bytes
    role: str  # "map" | "ar" | "mn"
    address: bytes | None = None
    map_facing: bool = False  # a router there learns MAP options from RAs (dynamic discovery, MAP relay)
    access: bool = False  # mobile nodes live there (an RA from a new router could become their default router)


@dataclasses.dataclass
class World:
    """The addresses the generator uses.  ``protected``: addresses a harmless frame must not come from or name
    (except as its destination); ``fuzz_rcoas``: the only RCoAs fuzzed BUs name (a bounded use of the MAP's cache);
    ``bound_rcoas``: RCoAs with a binding, for data-plane traffic through the MAP."""

    targets: list[Target]
    map_address: bytes
    map_prefix: bytes
    access_prefixes: list[bytes]
    mn_lcoa: bytes
    bound_rcoas: list[bytes]
    fuzz_rcoas: list[bytes]
    protected: frozenset[bytes]
    correspondents: list[bytes] = dataclasses.field(default_factory=list)
    spis: list[int] = dataclasses.field(default_factory=list)  # SPIs of the SAs the daemons hold (IPsec on)

    def harmless(self, ipv6: bytes, target: Target) -> bool:
        """False when a receiver could legitimately act on the packet against protected state (see the module
        docstring); malformed packets the decoder refuses are harmless by definition, except Neighbor Discovery
        naming a protected address (kernels parse ND themselves)."""
        from reference_impl import wire as w
        from reference_impl.wire import fastpath

        upper = fastpath.upper_layer(ipv6)
        if upper is not None and upper[0] == 58 and upper[1] < len(ipv6) and 133 <= ipv6[upper[1]] <= 137:
            rest = ipv6[:24] + ipv6[40:]
            if any(address in rest for address in self.protected):
                return False
        try:
            packet = w.decode_packet(ipv6)
        except w.DecodeError:
            return True
        return not self._touches(packet, target, 0)

    def _touches(self, p, target: Target, depth: int) -> bool:
        from reference_impl import wire as w

        named = [p.src, p.home_address, p.rh2_address]
        msg = p.payload
        if isinstance(msg, w.Packet):
            return any(a in self.protected for a in named) or depth > 4 or self._touches(msg, target, depth + 1)
        if isinstance(msg, w.BindingUpdate):
            named.append(msg.alternate_coa)
        elif isinstance(msg, w.BindingError):
            named.append(msg.home_address)
        elif isinstance(msg, (w.NeighborSolicitation, w.NeighborAdvertisement)):
            named.append(msg.target)
        elif isinstance(msg, w.RouterAdvertisement) and p.hop_limit == 255 and w.is_link_local(p.src) \
                and msg.code == 0:
            if target.map_facing and any(o.dist > 0 for o in msg.map_options):
                return True  # would be learnt and relayed toward the mobile node (§7.1.1, §7.1.2)
            if target.access and msg.router_lifetime != 0:
                return True  # a default router for a host that lost its own
        return any(a is not None and a in self.protected for a in named)


# --- random messages aimed at a target ------------------------------------------------------------------------------

_BU_FLAGS = (0x8800, 0x0800, 0xC000, 0xC800, 0xB800, 0x8000, 0, 0xFFFF, 0x8FFF)
_BA_STATUS = (0, 1, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 255)
_LINK_LOCAL = bytes.fromhex("fe80000000000000")


class Generator:
    """Random frames for a :class:`World`: ``frame(target)`` -> (kind, Ethernet frame bytes)."""

    KINDS = ("structured", "mutated", "mutated", "truncated", "random")

    def __init__(self, world: World, rnd: random.Random, src_mac: bytes) -> None:
        self.world, self.rnd, self.src_mac = world, rnd, src_mac

    # -- addresses ---------------------------------------------------------------------------------------------
    def _addr(self, *likely: bytes) -> bytes:
        r = self.rnd
        roll = r.random()
        if likely and roll < 0.6:
            return r.choice(likely)
        if roll < 0.75:
            return r.choice(self.world.access_prefixes)[:8] + r.randbytes(8)
        if roll < 0.85:
            return _LINK_LOCAL + r.randbytes(8)
        if roll < 0.9:
            return r.choice((bytes(16), bytes(15) + b"\x01", b"\xff\x02" + bytes(13) + b"\x01", b"\xff" * 16))
        return r.randbytes(16)

    def _free(self, address: bytes) -> bytes:
        """``address`` unless protected (then a fresh one on an access prefix)."""
        while address in self.world.protected:
            address = self.rnd.choice(self.world.access_prefixes)[:8] + self.rnd.randbytes(8)
        return address

    def _mobility_options(self) -> tuple:
        from reference_impl import wire as w

        r = self.rnd
        out = []
        for _ in range(r.choice((0, 0, 1, 2, 3, 5))):
            kind = r.randrange(7)
            if kind == 0:
                out.append(w.BindingRefreshAdvice(r.randrange(0x10000)))
            elif kind == 1:
                out.append(w.AlternateCareOfAddress(self._free(self._addr())))
            elif kind == 2:
                out.append(w.NonceIndices(r.randrange(0x10000), r.randrange(0x10000)))
            elif kind == 3:
                out.append(w.BindingAuthorizationData(r.randbytes(r.choice((0, 1, 12, 12, 40)))))
            elif kind == 4:
                out.append(w.MobilityOptionUnknown(r.randrange(6, 256), r.randbytes(r.randrange(24))))
            elif kind == 5:
                out.append(w.PadN(r.randrange(9)))
            else:
                out.append(w.Pad1())
        return tuple(out)

    def _nd_options(self, maps: bool) -> tuple:
        from reference_impl import wire as w

        r = self.rnd
        out = []
        for _ in range(r.choice((0, 1, 2, 3, 4, 6))):
            kind = r.randrange(8 if maps else 6)
            if kind == 0:
                out.append(w.SourceLinkLayerAddress(r.randbytes(r.choice((6, 6, 14)))))
            elif kind == 1:
                out.append(w.TargetLinkLayerAddress(r.randbytes(r.choice((6, 6, 14)))))
            elif kind == 2:
                out.append(w.PrefixInformation(r.choice(self.world.access_prefixes + [r.randbytes(16)]),
                                               r.choice((64, 64, 0, 127, 128, 129, 255, r.randrange(256))),
                                               r.randrange(256), r.choice((0, 1, 0xFFFFFFFF, r.getrandbits(32))),
                                               r.choice((0, 1, 0xFFFFFFFF, r.getrandbits(32))), r.getrandbits(32)))
            elif kind == 3:
                out.append(w.Mtu(r.choice((0, 1280, 1500, 0xFFFFFFFF, r.getrandbits(32))), r.randrange(0x10000)))
            elif kind == 4:
                out.append(w.AdvertisementInterval(r.choice((0, 1, 1500, r.getrandbits(32))), r.randrange(0x10000)))
            elif kind == 5:
                out.append(w.NdOptionUnknown(r.choice((4, 6, 8, 17, 24, 31, 200, 255)),
                                             r.randbytes(8 * r.randrange(3) + 6)))
            else:
                out.append(w.MapOption(self._free(self._addr(self.world.map_address)), r.randrange(16),
                                       r.randrange(16), r.random() < 0.5, r.choice((0, 1, 86400, r.getrandbits(32))),
                                       r.randrange(0x80)))
        return tuple(out)

    # -- messages ----------------------------------------------------------------------------------------------
    def packet(self, target: Target):
        """A random, encodable :class:`~reference_impl.wire.Packet` that makes sense to send to ``target``."""
        from reference_impl import wire as w

        r, world = self.rnd, self.world
        if target.role == "map":
            choice = r.choice(("bu", "bu", "bu", "ns", "na", "rs", "ra", "data", "tunnel", "be", "esp", "ah"))
        elif target.role == "ar":
            choice = r.choice(("rs", "rs", "ra", "echo_reply", "echo_reply", "echo", "ns", "error"))
        else:
            choice = r.choice(("ba", "ba", "brr", "be", "hot", "ra", "tunnel", "error", "ns", "esp", "ah"))
        hop = r.choice((255, 255, 64, 1, 0, r.randrange(256)))
        if choice == "bu":
            bu = w.BindingUpdate(r.choice((0, 1, 0x7FFF, 0x8000, 0xFFFF, r.randrange(0x10000))),
                                 r.choice(_BU_FLAGS + (r.randrange(0x10000),)),
                                 r.choice((0, 1, 25, 0xFFFF, r.randrange(0x10000))), self._mobility_options())
            home = r.choice(world.fuzz_rcoas + [None, self._addr(), world.map_address])
            return w.Packet(self._free(self._addr()), world.map_address, bu, hop_limit=hop,
                            home_address=None if home is None else self._free(home),
                            rh2_address=self._free(self._addr()) if r.random() < 0.1 else None)
        if choice == "ba":
            ba = w.BindingAcknowledgement(r.choice(_BA_STATUS), r.randrange(0x10000),
                                          r.choice((0, 1, 100, r.randrange(0x10000))), r.randrange(256),
                                          self._mobility_options())
            return w.Packet(self._free(self._addr()), target.address or world.mn_lcoa, ba, hop_limit=hop,
                            rh2_address=self._free(self._addr(*world.fuzz_rcoas)) if r.random() < 0.7 else None)
        if choice in ("brr", "be", "hot"):
            if choice == "brr":
                msg = w.BindingRefreshRequest(self._mobility_options(), r.randrange(0x10000))
            elif choice == "be":
                msg = w.BindingError(r.randrange(256), self._free(self._addr()), self._mobility_options(),
                                     r.randrange(256))
            else:
                msg = w.MobilityUnknown(r.choice((1, 2, 3, 4, 8, 200)), r.randbytes(8 * r.randrange(4) + 2))
            return w.Packet(self._free(self._addr()), target.address or world.map_address, msg, hop_limit=hop)
        if choice in ("ns", "na"):
            tgt = self._free(r.choice(world.fuzz_rcoas + [self._addr()]))
            if choice == "ns":
                dst = r.choice((b"\xff\x02" + bytes(9) + b"\x01\xff" + tgt[13:], w.ALL_NODES, target.address or tgt))
                msg = w.NeighborSolicitation(tgt, self._nd_options(False), r.choice((0, r.getrandbits(32))),
                                             r.choice((0, 0, 1)))
                src = r.choice((bytes(16), self._free(self._addr())))
            else:
                dst = w.ALL_NODES
                msg = w.NeighborAdvertisement(tgt, r.random() < 0.5, r.random() < 0.5, r.random() < 0.5,
                                              self._nd_options(False), 0, r.choice((0, 0, 1)))
                src = self._free(self._addr())
            return w.Packet(src, dst, msg, hop_limit=hop)
        if choice == "rs":
            return w.Packet(r.choice((bytes(16), self._free(_LINK_LOCAL + r.randbytes(8)))), w.ALL_ROUTERS,
                            w.RouterSolicitation(self._nd_options(False), r.choice((0, r.getrandbits(32))),
                                                 r.choice((0, 0, 1))), hop_limit=hop)
        if choice == "ra":
            ra = w.RouterAdvertisement(r.randrange(256), r.randrange(256), r.choice((0, 0, 1800, r.randrange(0x10000))),
                                       r.getrandbits(32), r.getrandbits(32), self._nd_options(True),
                                       r.choice((0, 0, 1)))
            return w.Packet(self._free(r.choice((_LINK_LOCAL + r.randbytes(8), self._addr()))), w.ALL_NODES, ra,
                            hop_limit=hop)
        if choice in ("echo", "echo_reply"):
            cls = w.EchoReply if choice == "echo_reply" else w.EchoRequest
            msg = cls(r.choice((0x4D50, r.randrange(0x10000))), r.randrange(64), r.randbytes(r.randrange(24)))
            return w.Packet(self._free(self._addr()), target.address or w.ALL_NODES, msg, hop_limit=hop)
        if choice == "error":
            quoted = w.encode_packet(w.Packet(target.address or world.mn_lcoa, self._free(self._addr()),
                                              w.MobilityUnknown(r.choice((1, 2)), r.randbytes(10))))
            msg = w.Icmpv6Opaque(r.choice((1, 2, 3, 4)), r.randrange(4), bytes(4) + quoted[:r.randrange(len(quoted) + 1)])
            return w.Packet(self._free(self._addr()), target.address or world.mn_lcoa, msg, hop_limit=hop)
        if choice in ("esp", "ah"):  # protected signalling (base §12.1): known or unknown SPI, any sequence number
            spi = r.choice(world.spis + [r.getrandbits(32), 0, 256]) if world.spis else r.getrandbits(32)
            seq = r.choice((0, 1, 2, 0xFFFFFFFF, r.getrandbits(32)))
            if choice == "esp":
                body = struct.pack("!II", spi, seq) + r.randbytes(r.choice((0, 4, 16, 32, 48, 64, 100)))
                nh = 50
            else:  # AH: next header, payload length (32-bit words - 2), reserved, SPI, sequence, ICV, then a "BU"
                icv = r.choice((12, 16, r.randrange(40)))
                head = struct.pack("!BBHII", r.choice((135, 59, 58, r.randrange(256))),
                                   r.choice(((12 + icv) // 4 - 2, r.randrange(256))), 0, spi, seq)
                body = head + r.randbytes(icv) + r.randbytes(r.choice((0, 8, 16, 24)))
                nh = 51
            dst = world.map_address if target.role == "map" else (target.address or world.mn_lcoa)
            src = self._free(self._addr())
            return w.Packet(src, dst, w.RawPayload(nh, body), hop_limit=hop,
                            home_address=self._free(r.choice(world.fuzz_rcoas)) if r.random() < 0.6 else None,
                            rh2_address=self._free(r.choice(world.fuzz_rcoas)) if r.random() < 0.2 else None)
        if choice == "data":  # from the correspondents' side to an RCoA: the MAP's tunnelling fast path
            inner = w.RawPayload(r.choice((17, 58, 59, 6)), r.randbytes(r.randrange(48)))
            return w.Packet(self._free(self._addr()), r.choice(world.bound_rcoas + world.fuzz_rcoas), inner,
                            hop_limit=r.choice((64, 1, 0)))
        # an IPv6-in-IPv6 tunnel (reverse tunnel to the MAP, or to the mobile node's LCoA)
        inner_target = dataclasses.replace(target, role=r.choice(("map", "mn")))
        inner = self.packet(inner_target) if r.random() < 0.8 else w.Packet(
            self._free(self._addr()), self._addr(*world.bound_rcoas), w.EchoRequest(1, 1))
        return w.Packet(self._free(self._addr()), target.address or world.map_address, inner, hop_limit=hop)

    def frame(self, target: Target) -> tuple[str, bytes]:
        """(kind, frame): a structured packet, a mutated one, a truncated one, or random bytes, to ``target``."""
        from reference_impl import wire as w

        r = self.rnd
        eth = (target.mac if r.random() < 0.8 else ALL_NODES_MAC) + self.src_mac + b"\x86\xdd"
        kind = r.choice(self.KINDS)
        if kind == "random":
            body = r.randbytes(r.randrange(0, 200))
            if body and r.random() < 0.7:
                body = bytes((0x60,)) + body[1:]
            return kind, eth + body
        try:
            data = w.encode_packet(self.packet(target))
        except ValueError:  # e.g. an option list the encoder refuses: try another message
            return self.frame(target)
        if kind == "mutated":
            data = mutate(data, r, r.choice((1, 1, 2, 3)))
        elif kind == "truncated":
            cut = bytearray(data[:r.randrange(len(data))])
            if r.random() < 0.6:
                fix_payload_length(cut)
                fix_checksum(cut)
            data = bytes(cut)
        return kind, eth + data


def build_pool(generator: Generator, targets: list[Target], count: int) -> list[tuple[Target, str, bytes]]:
    """``count`` harmless frames spread over ``targets`` (round robin)."""
    pool = []
    rejected = 0
    i = 0
    while len(pool) < count:
        target = targets[i % len(targets)]
        i += 1
        kind, frame = generator.frame(target)
        if not generator.world.harmless(frame[14:], target):
            rejected += 1
            continue
        pool.append((target, kind, frame))
    return pool
