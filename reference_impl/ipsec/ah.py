"""AH in transport mode over IPv6 (RFC 4302), with Mobile IPv6's rules for the ICV (RFC 6275 §9.3.1, §9.3.2).

AH: Next Header | Payload Length (AH length in 4-octet units minus 2) | Reserved | SPI | Sequence Number | ICV,
padded to a multiple of 8 octets for IPv6 (§2.2, §2.6).  The ICV covers the IPv6 header and extension headers
as the final destination sees them, with mutable fields zeroed (§3.3.3.1), the AH with its ICV zeroed (padding
included as sent, §3.3.3.2.1), and everything after the AH.  Anti-replay is the caller's, as for ESP.
"""

from __future__ import annotations

import hmac
import struct

from .errors import IpsecError
from .sa import Decapsulated, SecurityAssociation

__all__ = ["ah_decapsulate", "ah_encapsulate", "ah_icv_view", "ah_length", "ah_spi"]

NH_HOPOPTS, NH_ROUTING, NH_AH, NH_DSTOPTS = 0, 43, 51, 60
OPT_PAD1 = 0
OPT_CHANGE_EN_ROUTE = 0x20  # third-highest bit of the option type (RFC 8200 §4.2)
OPT_HOME_ADDRESS = 201  # RFC 6275 §6.3
ROUTING_TYPE_2 = 2  # RFC 6275 §6.4
_AH_HEADER = struct.Struct("!BBHII")


def ah_length(sa: SecurityAssociation) -> int:
    """Octets of the AH for this SA: 12 + ICV, rounded up to a multiple of 8 for IPv6 (RFC 4302 §2.2)."""
    return -(-(12 + sa.auth_algorithm.icv_length) // 8) * 8


def ah_spi(data: bytes) -> tuple[int, int]:
    """(SPI, sequence number) from an AH, to find the SA and check the window before anything else."""
    if len(data) < 12:
        raise IpsecError(f"AH truncated: {len(data)} octets, need at least 12 (RFC 4302 §2)")
    return struct.unpack_from("!II", data, 4)


def ah_icv_view(headers: bytes) -> bytes:
    """The IPv6 header and extension headers before the AH as the ICV covers them (RFC 4302 §3.3.3.1.2).

    Zeroed: traffic class, flow label, hop limit (§3.3.3.1.2.1); the data of options with the change-en-route bit
    (§3.3.3.1.2.2).  As at the final destination: a Home Address option swaps with the IPv6 source (RFC 6275
    §9.3.1, §11.3.2); a type 2 routing header with Segments Left 1 swaps its address with the IPv6 destination and
    shows Segments Left 0 (RFC 6275 §9.3.2, RFC 4302 §3.3.3.1.2.2).  Malformed headers raise IpsecError.
    """
    return _view(headers)[0]


def _view(headers: bytes) -> tuple[bytes, int]:
    """(ICV view, the last Next Header value in ``headers``)."""
    n = len(headers)
    if n < 40:
        raise IpsecError(f"IPv6 header truncated: {n} octets, need 40 (RFC 8200 §3)")
    if headers[0] >> 4 != 6:
        raise IpsecError(f"IP version {headers[0] >> 4}, expected 6 (RFC 8200 §3)")
    view = bytearray(headers)
    view[0:4] = b"\x60\x00\x00\x00"
    view[7] = 0
    next_header, pos = headers[6], 40
    home_address = routing_address = None
    while pos < n:
        if pos + 2 > n:
            raise IpsecError(f"extension header {next_header} truncated at octet {pos}")
        end = pos + (headers[pos + 1] + 1) * 8
        if end > n:
            raise IpsecError(f"extension header {next_header} at octet {pos} runs past the headers ({end} > {n})")
        if next_header in (NH_HOPOPTS, NH_DSTOPTS):
            if next_header == NH_HOPOPTS and pos != 40:
                raise IpsecError("Hop-by-Hop Options header not right after the IPv6 header (RFC 8200 §4.3)")
            hao = _zero_mutable_options(headers, view, pos, end, next_header == NH_DSTOPTS)
            if hao is not None:
                if home_address is not None:
                    raise IpsecError("more than one Home Address option (RFC 6275 §6.3)")
                home_address = hao
        elif next_header == NH_ROUTING:
            routing_type, segments_left = headers[pos + 2], headers[pos + 3]
            if routing_type == ROUTING_TYPE_2 and (headers[pos + 1] != 2 or segments_left > 1):
                raise IpsecError(f"type 2 routing header with length {headers[pos + 1]} and segments left "
                                 f"{segments_left} (RFC 6275 §6.4: 2 and 1)")
            if segments_left:
                if routing_type != ROUTING_TYPE_2:
                    raise IpsecError(f"routing header type {routing_type} with segments left {segments_left}: "
                                     "unsupported before AH")
                if routing_address is not None:
                    raise IpsecError("more than one type 2 routing header with segments left (RFC 6275 §6.4)")
                routing_address = pos + 8
                view[pos + 3] = 0
        else:
            raise IpsecError(f"next header {next_header} at octet {pos}: only Hop-by-Hop, Routing and Destination "
                             "Options headers may precede AH here (RFC 4302 §3.1.1)")
        next_header, pos = headers[pos], end
    if home_address is not None:
        view[8:24], view[home_address:home_address + 16] = headers[home_address:home_address + 16], headers[8:24]
    if routing_address is not None:
        view[24:40], view[routing_address:routing_address + 16] = \
            headers[routing_address:routing_address + 16], headers[24:40]
    return bytes(view), next_header


def _zero_mutable_options(headers: bytes, view: bytearray, pos: int, end: int, destination: bool) -> int | None:
    """Zero the data of change-en-route options in one options header; the offset of a Home Address, if any."""
    home_address = None
    i = pos + 2
    while i < end:
        option = headers[i]
        if option == OPT_PAD1:
            i += 1
            continue
        if i + 2 > end:
            raise IpsecError(f"option {option} at octet {i} truncated (RFC 8200 §4.2)")
        length = headers[i + 1]
        start, i = i + 2, i + 2 + length
        if i > end:
            raise IpsecError(f"option {option} at octet {start - 2} runs past its header (RFC 8200 §4.2)")
        if option & OPT_CHANGE_EN_ROUTE:
            view[start:i] = bytes(length)
        if option == OPT_HOME_ADDRESS:
            if not destination or length != 16:
                raise IpsecError(f"Home Address option with length {length} in a "
                                 f"{'Destination' if destination else 'Hop-by-Hop'} Options header "
                                 "(RFC 6275 §6.3: length 16, Destination Options)")
            if home_address is not None:
                raise IpsecError("more than one Home Address option (RFC 6275 §6.3)")
            home_address = start
    return home_address


def _checked_view(headers: bytes, after: int) -> bytes:
    """The ICV view, after checking that ``headers`` end with Next Header 51 and that the IPv6 Payload Length
    counts the extension headers plus ``after`` octets (AH and what follows it)."""
    view, last = _view(headers)
    if last != NH_AH:
        raise IpsecError(f"the header before AH says next header {last}, not 51 (RFC 4302 §2.1)")
    payload_length = int.from_bytes(headers[4:6], "big")
    if payload_length != len(headers) - 40 + after:
        raise IpsecError(f"IPv6 payload length {payload_length} != {len(headers) - 40 + after} "
                         "(extension headers + AH + payload)")
    return view


def ah_encapsulate(sa: SecurityAssociation, seq: int, headers: bytes, next_header: int, payload: bytes) -> bytes:
    """The AH (ICV filled in) to insert between ``headers`` and ``payload``.

    ``headers`` is exactly what is sent before the AH: its last Next Header already 51 and the IPv6 Payload Length
    already counting AH + ``payload`` (see :func:`ah_length`).  Reserved and ICV padding are zero (RFC 4302 §2.3,
    §2.6).
    """
    if sa.protocol != "ah":
        raise IpsecError(f"SA {sa.spi:#x} is an {sa.protocol.upper()} SA, not AH")
    if not 0 <= seq <= 0xFFFFFFFF:
        raise IpsecError(f"sequence number {seq} outside 0..2**32-1 (RFC 4302 §2.5)")
    if not 0 <= next_header <= 255:
        raise IpsecError(f"next header {next_header} outside 0..255 (RFC 4302 §2.1)")
    length = ah_length(sa)
    view = _checked_view(bytes(headers), length + len(payload))
    head = _AH_HEADER.pack(next_header, length // 4 - 2, 0, sa.spi, seq)
    zeros = bytes(length - 12)
    icv = sa.keyed_auth.icv(view, head, zeros, payload)
    return head + icv + zeros[len(icv):]


def ah_decapsulate(sa: SecurityAssociation, headers: bytes, data: bytes) -> Decapsulated:
    """Verify one AH (``data`` = the AH and everything after it; ``headers`` = what came before it, as received).

    Checks the SPI (RFC 4302 §3.4.2), the Payload Length against the SA's ICV size (§2.2), the headers, and the
    ICV in constant time (§3.4.4).  Every failure is an :class:`IpsecError`.
    """
    if sa.protocol != "ah":
        raise IpsecError(f"SA {sa.spi:#x} is an {sa.protocol.upper()} SA, not AH")
    data = bytes(data)
    spi, seq = ah_spi(data)
    if spi != sa.spi:
        raise IpsecError(f"SPI {spi:#x} does not match the SA's {sa.spi:#x} (RFC 4302 §3.4.2)")
    length = ah_length(sa)
    field = (data[1] + 2) * 4
    if field != length:
        raise IpsecError(f"AH Payload Length {data[1]} means {field} octets, {sa.auth} needs {length} "
                         "(RFC 4302 §2.2)")
    if len(data) < length:
        raise IpsecError(f"AH truncated: {len(data)} octets, Payload Length says {length} (RFC 4302 §2.2)")
    view = _checked_view(bytes(headers), len(data))
    icv_length = sa.auth_algorithm.icv_length
    expected = sa.keyed_auth.icv(view, data[:12], bytes(icv_length), data[12 + icv_length:])
    if not hmac.compare_digest(expected, data[12:12 + icv_length]):
        raise IpsecError("ICV mismatch (RFC 4302 §3.4.4)")
    return Decapsulated(seq, data[0], data[length:])
