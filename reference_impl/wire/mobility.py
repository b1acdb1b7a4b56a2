"""Mobility Header messages and mobility options (RFC 6275 §6.1, §6.2) with the HMIPv6 M flag (base document §4.1).

Mobility Header (RFC 6275 §6.1.1)::

    Payload Proto (8) | Header Len (8, units of 8 octets after the first 8) | MH Type (8) | Reserved (8)
    Checksum (16) | Message Data ...

The whole header is a multiple of 8 octets.  :func:`decode_mh` returns one message dataclass (checksum already
verified by the packet decoder, which knows the pseudo-header); :func:`encode_mh` returns bytes with a zero
checksum that the packet encoder fills in.  Payload Proto (59 expected) and the Reserved octet are not kept.

Padding is layout, not content: decoding drops Pad1/PadN, so ``decode(encode(m)) == m`` for a message built
without them.  When encoding a list with no padding options in it, alignment padding is inserted for Alternate
Care-of Address (8n+6), Nonce Indices (2n) and Binding Authorization Data (8n+2), as RFC 6275 §6.2 asks; a list
that contains Pad1/PadN is emitted verbatim (to build odd layouts on purpose).  Trailing padding to a multiple of
8 octets is always added.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Union

from .errors import DecodeError

__all__ = [
    "AlternateCareOfAddress",
    "BA_K",
    "BU_A",
    "BU_H",
    "BU_K",
    "BU_L",
    "BU_M",
    "BindingAcknowledgement",
    "BindingAuthorizationData",
    "BindingError",
    "BindingRefreshAdvice",
    "BindingRefreshRequest",
    "BindingUpdate",
    "MobilityMessage",
    "MobilityOption",
    "MobilityOptionUnknown",
    "MobilityUnknown",
    "NonceIndices",
    "Pad1",
    "PadN",
    "decode_mh",
    "decode_mobility_options",
    "encode_mh",
    "encode_mobility_options",
]

# ---------------------------------------------------------------------------------------------------------------
# Mobility options (RFC 6275 §6.2.1): Option Type (8) | Option Length (8, octets after these two) | data
# ---------------------------------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Pad1:
    """Pad1, type 0 (RFC 6275 §6.2.2): a single zero octet, no length field."""

    TYPE: ClassVar[int] = 0


@dataclass(slots=True, frozen=True)
class PadN:
    """PadN, type 1 (RFC 6275 §6.2.3): ``length`` zero octets of data."""

    TYPE: ClassVar[int] = 1
    length: int = 0


@dataclass(slots=True, frozen=True)
class BindingRefreshAdvice:
    """Binding Refresh Advice, type 2, length 2 (RFC 6275 §6.2.4): Refresh Interval (16, units of 4 s)."""

    TYPE: ClassVar[int] = 2
    LENGTH: ClassVar[int] = 2
    interval: int


@dataclass(slots=True, frozen=True)
class AlternateCareOfAddress:
    """Alternate Care-of Address, type 3, length 16, alignment 8n+6 (RFC 6275 §6.2.5)."""

    TYPE: ClassVar[int] = 3
    LENGTH: ClassVar[int] = 16
    address: bytes


@dataclass(slots=True, frozen=True)
class NonceIndices:
    """Nonce Indices, type 4, length 4, alignment 2n (RFC 6275 §6.2.6): Home (16) | Care-of (16) Nonce Index."""

    TYPE: ClassVar[int] = 4
    LENGTH: ClassVar[int] = 4
    home_nonce_index: int
    careof_nonce_index: int


@dataclass(slots=True, frozen=True)
class BindingAuthorizationData:
    """Binding Authorization Data, type 5, implicit alignment 8n+2, last option (RFC 6275 §6.2.7)."""

    TYPE: ClassVar[int] = 5
    authenticator: bytes


@dataclass(slots=True, frozen=True)
class MobilityOptionUnknown:
    """Any other mobility option, kept as type + data (RFC 6275 §6.2.1: skip options not understood)."""

    type: int
    data: bytes


MobilityOption = Union[
    Pad1, PadN, BindingRefreshAdvice, AlternateCareOfAddress, NonceIndices, BindingAuthorizationData,
    MobilityOptionUnknown,
]
_PADS = (Pad1, PadN)


def decode_mobility_options(data: bytes, offset: int = 0) -> tuple[MobilityOption, ...]:
    """Decode a mobility option list, dropping padding.  ``offset``: position of ``data`` in the buffer."""
    options: list[MobilityOption] = []
    pos = 0
    end = len(data)
    while pos < end:
        otype = data[pos]
        if otype == 0:
            pos += 1
            continue
        if end - pos < 2:
            raise DecodeError("mobility option truncated", offset + pos)
        olen = data[pos + 1]
        if pos + 2 + olen > end:
            raise DecodeError("mobility option overruns header", offset + pos)
        body = data[pos + 2 : pos + 2 + olen]
        if otype == 1:
            pass
        elif otype == 2:
            if olen != 2:
                raise DecodeError("binding refresh advice length != 2", offset + pos)
            options.append(BindingRefreshAdvice(int.from_bytes(body, "big")))
        elif otype == 3:
            if olen != 16:
                raise DecodeError("alternate care-of address length != 16", offset + pos)
            options.append(AlternateCareOfAddress(bytes(body)))
        elif otype == 4:
            if olen != 4:
                raise DecodeError("nonce indices length != 4", offset + pos)
            options.append(NonceIndices(int.from_bytes(body[:2], "big"), int.from_bytes(body[2:], "big")))
        elif otype == 5:
            options.append(BindingAuthorizationData(bytes(body)))
        else:
            options.append(MobilityOptionUnknown(otype, bytes(body)))
        pos += 2 + olen
    return tuple(options)


def _pad(n: int) -> bytes:
    if n == 0:
        return b""
    if n == 1:
        return b"\x00"
    return bytes((1, n - 2)) + bytes(n - 2)


def _option_bytes(opt: MobilityOption) -> bytes:
    if isinstance(opt, Pad1):
        return b"\x00"
    if isinstance(opt, PadN):
        return bytes((1, opt.length)) + bytes(opt.length)
    if isinstance(opt, BindingRefreshAdvice):
        return struct.pack("!BBH", 2, 2, opt.interval)
    if isinstance(opt, AlternateCareOfAddress):
        if len(opt.address) != 16:
            raise ValueError("alternate care-of address must be 16 bytes")
        return bytes((3, 16)) + opt.address
    if isinstance(opt, NonceIndices):
        return struct.pack("!BBHH", 4, 4, opt.home_nonce_index, opt.careof_nonce_index)
    if isinstance(opt, BindingAuthorizationData):
        return bytes((5, len(opt.authenticator))) + opt.authenticator
    if isinstance(opt, MobilityOptionUnknown):
        return bytes((opt.type, len(opt.data))) + opt.data
    raise TypeError(f"not a mobility option: {opt!r}")


_ALIGN = {AlternateCareOfAddress: (8, 6), NonceIndices: (2, 0), BindingAuthorizationData: (8, 2)}


def encode_mobility_options(options: tuple[MobilityOption, ...] | list[MobilityOption], start: int) -> bytes:
    """Options for a Mobility Header whose options begin ``start`` octets after its first octet.

    Pads the result so that ``start + len(result)`` is a multiple of 8.
    """
    verbatim = any(isinstance(o, _PADS) for o in options)
    out = bytearray()
    for opt in options:
        if not verbatim and type(opt) in _ALIGN:
            x, y = _ALIGN[type(opt)]
            out += _pad((y - (start + len(out))) % x)
        out += _option_bytes(opt)
    out += _pad(-(start + len(out)) % 8)
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------------------------

BU_A = 0x8000  # acknowledge
BU_H = 0x4000  # home registration
BU_L = 0x2000  # link-local address compatibility
BU_K = 0x1000  # key management mobility capability
BU_M = 0x0800  # MAP registration (base document §4.1)
BA_K = 0x80


@dataclass(slots=True, frozen=True)
class BindingRefreshRequest:
    """Binding Refresh Request, MH type 0 (RFC 6275 §6.1.2): Reserved (16) | options."""

    MH_TYPE: ClassVar[int] = 0
    options: tuple[MobilityOption, ...] = ()
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class BindingUpdate:
    """Binding Update, MH type 5 (RFC 6275 §6.1.7) with the M flag (base document §4.1, RFC 5380 §4).

    Sequence # (16) | A H L K M Reserved(11) (16) | Lifetime (16, units of 4 s) | options

    ``flags`` is the whole 16-bit word, so reserved bits a sender set stay visible; ``BU_*`` name the bits.
    """

    MH_TYPE: ClassVar[int] = 5
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!HHH")
    seq: int
    flags: int = BU_A
    lifetime: int = 0
    options: tuple[MobilityOption, ...] = ()

    @property
    def a(self) -> bool:
        return bool(self.flags & BU_A)

    @property
    def h(self) -> bool:
        return bool(self.flags & BU_H)

    @property
    def l(self) -> bool:  # noqa: E743 - the flag is called L in the RFC
        return bool(self.flags & BU_L)

    @property
    def k(self) -> bool:
        return bool(self.flags & BU_K)

    @property
    def m(self) -> bool:
        return bool(self.flags & BU_M)

    @property
    def reserved_flags(self) -> int:
        return self.flags & 0x07FF

    @property
    def lifetime_seconds(self) -> int:
        return self.lifetime * 4

    @property
    def alternate_coa(self) -> bytes | None:
        for opt in self.options:
            if isinstance(opt, AlternateCareOfAddress):
                return opt.address
        return None


@dataclass(slots=True, frozen=True)
class BindingAcknowledgement:
    """Binding Acknowledgement, MH type 6 (RFC 6275 §6.1.8).

    Status (8) | K Reserved(7) (8) | Sequence # (16) | Lifetime (16, units of 4 s) | options
    """

    MH_TYPE: ClassVar[int] = 6
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!BBHH")
    status: int
    seq: int
    lifetime: int = 0
    flags: int = 0
    options: tuple[MobilityOption, ...] = ()

    @property
    def k(self) -> bool:
        return bool(self.flags & BA_K)

    @property
    def lifetime_seconds(self) -> int:
        return self.lifetime * 4


@dataclass(slots=True, frozen=True)
class BindingError:
    """Binding Error, MH type 7 (RFC 6275 §6.1.9): Status (8) | Reserved (8) | Home Address (128) | options."""

    MH_TYPE: ClassVar[int] = 7
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!BB16s")
    status: int
    home_address: bytes
    options: tuple[MobilityOption, ...] = ()
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class MobilityUnknown:
    """Any other MH type (HoTI/CoTI/HoT/CoT or unassigned): the message data after the checksum, opaque."""

    mh_type: int
    data: bytes


MobilityMessage = Union[BindingRefreshRequest, BindingUpdate, BindingAcknowledgement, BindingError, MobilityUnknown]

_MH_HEAD = struct.Struct("!BBBBH")
_MIN_DATA = {0: 2, 5: 6, 6: 6, 7: 18}


def decode_mh(data: bytes, offset: int = 0) -> MobilityMessage:
    """Decode a Mobility Header (bytes after it are ignored).  ``offset``: position in the original buffer."""
    if len(data) < 8:
        raise DecodeError("mobility header truncated", offset)
    _proto, hlen, mh_type, _res, _cksum = _MH_HEAD.unpack_from(data)
    total = (hlen + 1) * 8
    if total > len(data):
        raise DecodeError("mobility header length exceeds packet", offset + 1)
    msg = data[6:total]
    need = _MIN_DATA.get(mh_type)
    if need is None:
        return MobilityUnknown(mh_type, bytes(msg))
    if len(msg) < need:
        raise DecodeError("mobility header length too short for its type", offset + 1)
    opts = decode_mobility_options(msg[need:], offset + 6 + need)
    if mh_type == 5:
        seq, flags, lifetime = BindingUpdate.FORMAT.unpack_from(msg)
        return BindingUpdate(seq, flags, lifetime, opts)
    if mh_type == 6:
        status, flags, seq, lifetime = BindingAcknowledgement.FORMAT.unpack_from(msg)
        return BindingAcknowledgement(status, seq, lifetime, flags, opts)
    if mh_type == 7:
        status, reserved, home = BindingError.FORMAT.unpack_from(msg)
        return BindingError(status, home, opts, reserved)
    return BindingRefreshRequest(opts, int.from_bytes(msg[:2], "big"))


def encode_mh(msg: MobilityMessage, payload_proto: int = 59) -> bytes:
    """Mobility Header bytes with a zero checksum (the packet encoder computes it from the pseudo-header)."""
    if isinstance(msg, MobilityUnknown):
        body = msg.data + bytes(-(6 + len(msg.data)) % 8)
        mh_type = msg.mh_type
    else:
        if isinstance(msg, BindingUpdate):
            fixed = BindingUpdate.FORMAT.pack(msg.seq, msg.flags, msg.lifetime)
        elif isinstance(msg, BindingAcknowledgement):
            fixed = BindingAcknowledgement.FORMAT.pack(msg.status, msg.flags, msg.seq, msg.lifetime)
        elif isinstance(msg, BindingError):
            fixed = BindingError.FORMAT.pack(msg.status, msg.reserved, msg.home_address)
        elif isinstance(msg, BindingRefreshRequest):
            fixed = struct.pack("!H", msg.reserved)
        else:
            raise TypeError(f"not a mobility message: {msg!r}")
        body = fixed + encode_mobility_options(msg.options, 6 + len(fixed))
        mh_type = msg.MH_TYPE
    total = 6 + len(body)
    if total > 2048:
        raise ValueError("mobility header longer than 2048 octets")
    return _MH_HEAD.pack(payload_proto, total // 8 - 1, mh_type, 0, 0) + body
