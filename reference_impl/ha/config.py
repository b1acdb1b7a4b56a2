"""Home agent configuration.  Times in seconds; defaults are the RFC values (RFC 6275 §12, RFC 4861, RFC 4862)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..homelink import INFINITE, HomeLinkAddressing, check_home_link_config
from ..map.config import Prefix
from ..wire.addresses import in_prefix

__all__ = ["HaConfig"]


@dataclass(slots=True, frozen=True)
class HaConfig(HomeLinkAddressing):
    """Everything a home agent core needs (RFC 6275 §10).

    ``address``: the HA's global address on the home link (``home_iface``); its /``prefix_length`` prefix is the
    home subnet prefix home addresses must belong to (status 132 otherwise, §10.3.1).  ``home_prefixes``: further
    home subnet prefixes on the same link.  ``prefix_valid_lifetime`` / ``prefix_preferred_lifetime``: constant
    lifetimes of the home prefix (INFINITE = never expires); ``prefix_valid_until`` / ``prefix_preferred_until``:
    absolute times on the core's clock instead (bindings are cut to the prefix's remaining validity, removed when
    it ends, and acknowledged with status 1 when it is deprecated or ends within the binding).
    ``dad``: "on" (NS from :: for the home address — and the derived link-local address when the BU has L set —
    then wait ``dad_retrans_timer`` × ``dad_transmits`` before the BA) or "off" (a deviation, logged at start).
    """

    address: bytes
    home_iface: str
    link_address: bytes  # MAC of home_iface: Target Link-Layer Address of proxy NAs
    prefix_length: int = 64
    home_prefixes: tuple[Prefix, ...] = ()
    prefix_valid_lifetime: int = INFINITE
    prefix_preferred_lifetime: int = INFINITE
    prefix_valid_until: float | None = None
    prefix_preferred_until: float | None = None
    extra_addresses: tuple[bytes, ...] = ()
    max_bindings: int = 1024
    max_binding_lifetime: int = 0xFFFF * 4  # local policy cap, seconds (RFC 6275 §10.3.1 "MAY further decrease")
    dad: Literal["on", "off"] = "on"
    dad_transmits: int = 1  # DupAddrDetectTransmits (RFC 4862)
    dad_retrans_timer: float = 1.0  # RetransTimer (RFC 4861)
    delete_bce_timeout: float = 10.0  # MAX_DELETE_BCE_TIMEOUT (RFC 6275 §12)
    unsolicited_na_count: int = 1  # 1..MAX_NEIGHBOR_ADVERTISEMENT (3) (RFC 6275 §10.4.1)
    unsolicited_na_interval: float = 1.0
    proxy_nd: bool = True  # answer NS for bound home addresses in the core (turn off if the kernel proxies)
    proxy_na_override: bool = False  # O flag of solicited proxy NAs (RFC 4861 §7.2.4: SHOULD be 0 for proxies)
    refresh_advice: int | None = None  # seconds; Binding Refresh Advice in accepted BAs (RFC 6275 §10.3.1 MAY)
    link_local: bytes | None = None  # of home_iface; derived from link_address when None

    def __post_init__(self) -> None:
        check_home_link_config(self, "HA")
        if self.dad not in ("on", "off"):
            raise ValueError("dad must be 'on' or 'off'")

    def on_home_prefix(self, address: bytes) -> bool:
        """RFC 6275 §10.3.1: "an on-link IPv6 address with respect to the home agent's current Prefix List"."""
        if in_prefix(address, self.address, self.prefix_length):
            return True
        return any(in_prefix(address, p, n) for p, n in self.home_prefixes)
