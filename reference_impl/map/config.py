"""MAP configuration.  Times in seconds; defaults are the RFC values (the harness passes scaled ones)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..homelink import INFINITE, HomeLinkAddressing, check_home_link_config
from ..wire.addresses import in_prefix

__all__ = ["INFINITE", "MapConfig", "Prefix"]

Prefix = tuple[bytes, int]  # (address bytes, prefix length), see wire.ip6_prefix()


@dataclass(slots=True, frozen=True)
class MapConfig(HomeLinkAddressing):
    """Everything a MAP core needs.

    ``address``: the MAP's global address, on the RCoA link (``home_iface``); its /``prefix_length`` prefix is
    the MAP subnet RCoAs must belong to (base document §5: the length MUST be 64).
    ``prefix_valid_lifetime`` / ``prefix_preferred_lifetime``: constant lifetimes of that prefix (INFINITE =
    never expires); ``prefix_valid_until`` / ``prefix_preferred_until``: absolute times on the core's clock
    instead, for decrementing lifetimes (bindings are then cut to the prefix's remaining validity and removed
    when it ends, RFC 6275 §10.3.1).
    ``onlink_prefixes``: the §6.2 "valid on-link prefixes" LCoAs must come from (status 129 otherwise); None =
    no restriction.  ``forward_prefixes``: §8 administrative allow-list: LCoA prefixes outside the domain that an
    EXISTING binding may be re-pointed to by a mobile node that moved on (previous-MAP forwarding).
    ``dad``: "on" (NS from ::, wait ``dad_retrans_timer`` × ``dad_transmits``, then answer), "off" (deviation:
    no DAD), "optimistic" (deviation: answer at once, withdraw the binding if a defender appears during DAD).
    """

    address: bytes
    home_iface: str
    link_address: bytes  # MAC of home_iface: Target Link-Layer Address of proxy NAs
    prefix_length: int = 64
    prefix_valid_lifetime: int = INFINITE
    prefix_preferred_lifetime: int = INFINITE
    prefix_valid_until: float | None = None
    prefix_preferred_until: float | None = None
    extra_addresses: tuple[bytes, ...] = ()  # further own addresses BUs may be sent to
    onlink_prefixes: tuple[Prefix, ...] | None = None
    forward_prefixes: tuple[Prefix, ...] = ()
    max_bindings: int = 1024
    max_binding_lifetime: int = 0xFFFF * 4  # local policy cap, seconds (RFC 6275 §10.3.1 "MAY further decrease")
    dad: Literal["on", "off", "optimistic"] = "on"
    dad_transmits: int = 1  # DupAddrDetectTransmits (RFC 4862)
    dad_retrans_timer: float = 1.0  # RetransTimer (RFC 4861)
    delete_bce_timeout: float = 10.0  # MAX_DELETE_BCE_TIMEOUT (RFC 6275 §12)
    unsolicited_na_count: int = 1  # 1..MAX_NEIGHBOR_ADVERTISEMENT (3) (RFC 6275 §10.4.1)
    unsolicited_na_interval: float = 1.0
    proxy_nd: bool = True  # answer NS for bound RCoAs in the core (turn off if the kernel proxies)
    proxy_na_override: bool = False  # O flag of solicited proxy NAs (RFC 4861 §7.2.4: SHOULD be 0 for proxies)
    refresh_advice: int | None = None  # seconds; adds Binding Refresh Advice to accepted BAs (RFC 6275 §6.2.4)
    dist: int = 1  # MAP option origination (§7.1.2)
    preference: int = 10
    r_flag: bool | None = None  # None: edition default (rfc4140 True, rfc5380 False)
    link_local: bytes | None = None  # of home_iface; derived from link_address when None

    def __post_init__(self) -> None:
        check_home_link_config(self, "MAP")
        if not 1 <= self.dist <= 15 or not 0 <= self.preference <= 15:
            raise ValueError("dist must be 1..15 (0 MUST NOT be used) and preference 0..15")
        if self.dad not in ("on", "off", "optimistic"):
            raise ValueError("dad must be 'on', 'off' or 'optimistic'")

    def on_map_prefix(self, address: bytes) -> bool:
        return in_prefix(address, self.address, self.prefix_length)
