"""Wire codec for HMIPv6 nodes: bytes + struct, one small frozen dataclass per message.

Decode with :func:`decode_frame` / :func:`decode_packet` (every failure is a :class:`DecodeError`), build with
:class:`Packet` + :func:`encode_packet` / :class:`Frame` + :func:`encode_frame` (checksums computed, HAO aligned).
:mod:`.fastpath` peeks at raw bytes for forwarding.  Addresses are 16-byte ``bytes``: :func:`ip6` and :func:`fmt`
convert from and to text.
"""

from __future__ import annotations

from . import fastpath
from .addresses import (
    ALL_NODES, ALL_ROUTERS, UNSPECIFIED, fmt, fmt_mac, in_prefix, ip6, ip6_prefix, is_link_local, is_multicast,
    is_unicast_routable, link_local_from_mac, mac, multicast_mac, prefix_of, solicited_node,
)
from .checksum import internet_checksum, pseudo_addresses, upper_layer_checksum, verify_upper_layer_checksum
from .errors import DecodeError
from .icmpv6 import (
    PI_A, PI_L, PI_R, RA_H, RA_M, RA_O, AdvertisementInterval, EchoReply, EchoRequest, IcmpMessage, Icmpv6Opaque,
    MapOption, Mtu, NdOption, NdOptionUnknown, NeighborAdvertisement, NeighborSolicitation, PrefixInformation,
    RouterAdvertisement, RouterSolicitation, SourceLinkLayerAddress, TargetLinkLayerAddress, decode_icmpv6,
    decode_nd_options, encode_icmpv6, encode_nd_options,
)
from .ipv6 import (
    ETHERTYPE_IPV6, NH_DSTOPTS, NH_HOPOPTS, NH_ICMPV6, NH_IPV6, NH_MOBILITY, NH_NONE, NH_ROUTING, Frame,
    Ipv6Option, Packet, Payload, RawPayload, decode_frame, decode_packet, encode_frame, encode_packet,
)
from .mobility import (
    BA_K, BU_A, BU_H, BU_K, BU_L, BU_M, AlternateCareOfAddress, BindingAcknowledgement, BindingAuthorizationData,
    BindingError, BindingRefreshAdvice, BindingRefreshRequest, BindingUpdate, MobilityMessage, MobilityOption,
    MobilityOptionUnknown, MobilityUnknown, NonceIndices, Pad1, PadN, decode_mh, decode_mobility_options,
    encode_mh, encode_mobility_options,
)

__all__ = [
    "ALL_NODES", "ALL_ROUTERS", "AdvertisementInterval", "AlternateCareOfAddress", "BA_K", "BU_A", "BU_H", "BU_K",
    "BU_L", "BU_M", "BindingAcknowledgement", "BindingAuthorizationData", "BindingError", "BindingRefreshAdvice",
    "BindingRefreshRequest", "BindingUpdate", "DecodeError", "ETHERTYPE_IPV6", "EchoReply", "EchoRequest", "Frame",
    "IcmpMessage", "Icmpv6Opaque", "Ipv6Option", "MapOption", "MobilityMessage", "MobilityOption",
    "MobilityOptionUnknown", "MobilityUnknown", "Mtu", "NH_DSTOPTS", "NH_HOPOPTS", "NH_ICMPV6", "NH_IPV6",
    "NH_MOBILITY", "NH_NONE", "NH_ROUTING", "NdOption", "NdOptionUnknown", "NeighborAdvertisement",
    "NeighborSolicitation", "NonceIndices", "PI_A", "PI_L", "PI_R", "Packet", "Pad1", "PadN", "Payload",
    "PrefixInformation", "RA_H", "RA_M", "RA_O", "RawPayload", "RouterAdvertisement", "RouterSolicitation",
    "SourceLinkLayerAddress", "TargetLinkLayerAddress", "UNSPECIFIED", "decode_frame", "decode_icmpv6", "decode_mh",
    "decode_mobility_options", "decode_nd_options", "decode_packet", "encode_frame", "encode_icmpv6", "encode_mh",
    "encode_mobility_options", "encode_nd_options", "encode_packet", "fastpath", "fmt", "fmt_mac", "in_prefix",
    "internet_checksum", "ip6", "ip6_prefix", "is_link_local", "is_multicast", "is_unicast_routable",
    "link_local_from_mac", "mac",
    "multicast_mac", "prefix_of", "pseudo_addresses", "solicited_node", "upper_layer_checksum",
    "verify_upper_layer_checksum",
]
