"""The testbed's ``security:`` section: manually keyed IPsec SA pairs between mobile nodes and MAPs (base §12.1).

Key exchange (IKE, IKEv2 / RFC 4877) is not implemented: SAs are configured, as RFC 6275 §5.1 lets every
implementation do.  A pair is two SAs (``to_map`` protects BUs, ``to_mn`` BAs) with selectors ``map`` (MAP
address or prefix) and ``rcoa`` (the RCoAs the mobile node may register under it: base §12.1 "The MAP needs to set
the SA for the RCoA (not the LCoA)").

``security: {ipsec: esp|ah, auth: ..., encryption: ..., key_seed: ...}`` generates the pairs a testbed needs,
with keys derived from the seed (HMAC-SHA256), so every process that loads the file -- the daemons' configuration
writer and the tester -- holds the same keys:

- ``<mn>@<map>`` for every mobile node and MAP node (RCoA selector: the MAP's /64);
- ``<mn>@tester`` for every mobile node, any MAP address: the tester playing MAPs for an MN DUT;
- ``tester1@<map>``, ``tester2@<map>`` for every MAP: the tester playing two mobile nodes (the second is the
  attacker of the RCoA hijack purpose), for any RCoA, so that the MAP's binding policy, not its SA selectors,
  answers a BU for an RCoA outside its prefix.

A lab whose DUT is configured by hand lists its pairs under ``sas:`` instead (same fields as the reference
daemons' ``security.sas``, keys as hex strings or ``{env: VAR}``).  Keys are :class:`~harness.testbed.model.Secret`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
from typing import Any

from harness.testbed.model import Secret

IPSEC_MODES = ("off", "esp", "ah")
AUTH = {"hmac-sha1-96": 20, "hmac-sha256-128": 32}  # key lengths (RFC 2404, RFC 4868)
ENCRYPTION = {"null": 0, "aes-cbc": 16}  # AES-128-CBC keys (RFC 3602)
SECURITY_KEYS = {"ipsec", "auth", "encryption", "key_seed", "sas"}
TESTER_IDENTITIES = ("tester1", "tester2")


@dataclasses.dataclass(frozen=True)
class SaSpec:
    """One SA (one direction)."""

    spi: int
    protocol: str  # esp | ah
    auth: str
    auth_key: Secret
    encryption: str = "null"
    enc_key: Secret | None = None

    def config(self) -> dict[str, Any]:
        """The reference daemons' form (keys revealed: for a daemon's configuration file only)."""
        out: dict[str, Any] = {"spi": self.spi, "protocol": self.protocol, "auth": self.auth,
                               "auth_key": self.auth_key.reveal()}
        if self.protocol == "esp":
            out["encryption"] = self.encryption
            out["enc_key"] = self.enc_key.reveal() if self.enc_key is not None else ""
        return out


@dataclasses.dataclass(frozen=True)
class SaPairSpec:
    """Two SAs between one mobile node and MAP(s).  ``mn``: the mobile node node's name (None: the tester plays the
    mobile node); ``map_node``: the MAP node's name (None: the tester plays the MAP)."""

    name: str
    map: ipaddress.IPv6Network
    rcoa: ipaddress.IPv6Network
    to_map: SaSpec
    to_mn: SaSpec
    mn: str | None = None
    map_node: str | None = None

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "map": str(self.map), "rcoa": str(self.rcoa),
                "to_map": self.to_map.config(), "to_mn": self.to_mn.config()}

    def covers(self, map_address: str, rcoa: str) -> bool:
        return ipaddress.IPv6Address(map_address) in self.map and ipaddress.IPv6Address(rcoa) in self.rcoa


@dataclasses.dataclass(frozen=True)
class SecuritySpec:
    """``ipsec``: off | esp | ah; ``pairs``: every SA pair of the testbed."""

    ipsec: str = "off"
    pairs: tuple[SaPairSpec, ...] = ()

    @property
    def on(self) -> bool:
        return self.ipsec != "off"

    def daemon_section(self, *, mn: str | None = None, map_node: str | None = None) -> dict[str, Any] | None:
        """The ``security:`` section of a reference daemon's configuration: the pairs ending at that node."""
        if not self.on:
            return None
        if mn is not None:
            pairs = [p for p in self.pairs if p.mn == mn]
        else:
            pairs = [p for p in self.pairs if p.map_node == map_node]
        return {"ipsec": "on", "sas": [p.config() for p in pairs]}

    def pair(self, name: str) -> SaPairSpec:
        for p in self.pairs:
            if p.name == name:
                return p
        raise KeyError(f"no SA pair {name!r} in the testbed (pairs: {', '.join(p.name for p in self.pairs)})")


def derive_key(seed: str, label: str, length: int) -> bytes:
    """Key material for ``label`` from the testbed's seed (HMAC-SHA256 in counter mode)."""
    out = b""
    counter = 0
    while len(out) < length:
        counter += 1
        out += hmac.new(seed.encode(), f"{label}|{counter}".encode(), hashlib.sha256).digest()
    return out[:length]


def generate(ipsec: str, auth: str, encryption: str, seed: Secret, mns: list[str],
             maps: dict[str, str]) -> tuple[SaPairSpec, ...]:
    """The pairs of a generated ``security:`` section; ``maps``: MAP node -> MAP address."""
    wanted: list[tuple[str, str, str, str | None, str | None]] = []  # name, map selector, rcoa selector, mn, map
    for mn in mns:
        for node, address in maps.items():
            wanted.append((f"{mn}@{node}", f"{address}/128", _prefix64(address), mn, node))
        wanted.append((f"{mn}@tester", "::/0", "::/0", mn, None))
    for node, address in maps.items():
        for identity in TESTER_IDENTITIES:  # any RCoA: the MAP's own policy must judge e.g. a foreign prefix (132)
            wanted.append((f"{identity}@{node}", f"{address}/128", "::/0", None, node))
    pairs = []
    for i, (name, map_sel, rcoa_sel, mn, node) in enumerate(wanted):
        sas = {}
        for j, direction in enumerate(("to_map", "to_mn")):
            label = f"{name}/{direction}"
            sas[direction] = SaSpec(
                spi=0x1000 + 2 * i + j, protocol=ipsec, auth=auth,
                auth_key=Secret(derive_key(seed.reveal(), label + "/auth", AUTH[auth]).hex(), f"derived ({label})"),
                encryption=encryption if ipsec == "esp" else "null",
                enc_key=(Secret(derive_key(seed.reveal(), label + "/enc", ENCRYPTION[encryption]).hex(),
                                f"derived ({label})") if ipsec == "esp" and ENCRYPTION[encryption] else None))
        pairs.append(SaPairSpec(name, ipaddress.IPv6Network(map_sel), ipaddress.IPv6Network(rcoa_sel),
                                sas["to_map"], sas["to_mn"], mn, node))
    return tuple(pairs)


def _prefix64(address: str) -> str:
    return str(ipaddress.IPv6Network(f"{address}/64", strict=False))

