"""Configuration files for the bundled reference daemons, derived from a testbed and its timer profile.

The harness never imports the reference implementation: it writes the daemons' YAML configuration
(the same file a lab would write for a Linux router running them) and talks to them through
``hmipv6-ctl``.  Every timer comes from the testbed's timer profile.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from harness.testbed.model import Node, Testbed

MAP_VALID_LIFETIME = 86400  # seconds advertised in MAP options (the MAP's prefix never expires)


def map_config(spec: Testbed, node: Node, workdir: Path, edition: str = "rfc4140") -> dict:
    home = spec.map_link(node.name)
    ars = [n for n in spec.nodes.values() if node.name in n.maps]
    domain = sorted({str(spec.access_link_of(ar.name).prefix) for ar in ars})
    others = sorted({str(link.prefix) for link in spec.access_links()} - set(domain))
    return {
        "role": "map", "edition": edition,
        "control_socket": str(workdir / "hmipv6-map.sock"), "log_file": str(workdir / "hmipv6-map.log"),
        **_security(spec, workdir, map_node=node.name),
        "map": {
            "address": spec.map_address(node.name), "home_iface": home.members[node.name].name,
            "listen": list(node.interfaces), "prefix_length": home.prefix.prefixlen,
            "onlink_prefixes": domain,
            "forward_prefixes": others,  # §8: bindings may be re-pointed to LCoAs in the other domains
            "dad": "on", "dad_retrans_timer": spec.timers.retrans_timer,
            "preference": 10, "dist": 1,
            # its own MAP option in RAs on the domain link (§7.1.2), with the profile's RA intervals
            "advertise": [{"iface": home.members[node.name].name, "max_interval": spec.timers.max_rtr_adv_interval,
                           "min_interval": spec.timers.min_rtr_adv_interval,
                           "min_delay_between_ras": spec.timers.min_delay_between_ras}],
            **node.daemon_options,
        },
    }


def ar_config(spec: Testbed, node: Node, workdir: Path, edition: str = "rfc4140") -> dict:
    t = spec.timers
    interfaces = []
    for iface in node.interfaces.values():
        link = spec.links[iface.link]
        if iface.advertise:
            interfaces.append({
                "name": iface.name, "advertise": True, "prefixes": [str(link.prefix)],
                "max_interval": t.max_rtr_adv_interval, "min_interval": t.min_rtr_adv_interval,
                "min_delay_between_ras": t.min_delay_between_ras})
        else:
            interfaces.append({"name": iface.name, "advertise": False, "listen_map_options": True})
    # R: rfc4140 "form the RCoA from this prefix"; rfc5380 "the MAP allocates the RCoA" (IKEv2, not offered)
    r_flag = edition == "rfc4140"
    maps = [{"address": spec.map_address(m), "dist": 1, "pref": 10, "r": r_flag, "valid_lifetime": MAP_VALID_LIFETIME}
            for m in node.maps]
    probe_source = None
    if node.maps:
        shared = spec.map_link(node.maps[0]).members[node.name]
        probe_source = str(shared.address.ip) if shared.address else None
    return {
        "role": "ar", "edition": edition,
        "control_socket": str(workdir / "hmipv6-ar.sock"), "log_file": str(workdir / "hmipv6-ar.log"),
        "ar": {
            "interfaces": interfaces, "maps": maps, "discovery": "manual", "probe_source": probe_source,
            "failure_detection": {"interval": t.map_probe_interval, "aggressive_interval": t.map_probe_aggressive_interval,
                                  "aggressive_duration": t.map_probe_aggressive_period},
            "max_initial_interval": t.max_initial_rtr_advert_interval, "max_ra_delay": t.max_ra_delay_time,
            **node.daemon_options,
        },
    }


def _first_address(node: Node) -> tuple[str, str, int]:
    """(interface, address, prefix length) of a node's first addressed interface."""
    for iface in node.interfaces.values():
        if iface.address is not None:
            return iface.name, str(iface.address.ip), iface.address.network.prefixlen
    raise KeyError(f"node {node.name!r} has no address")


def _daemon_nodes(spec: Testbed, service: str) -> list[Node]:
    return [n for n in spec.nodes.values() if service in n.services]


HOME_ADDRESS_IID = 0x100  # the mobile node's home address: home prefix + ::100 unless daemon_options say otherwise


def home_address(spec: Testbed) -> str | None:
    """The reference mobile node's home address: the home agent's prefix + ::100 (None without a home agent)."""
    has = _daemon_nodes(spec, "hmipv6-ha")
    if not has:
        return None
    _, ha_address, length = _first_address(has[0])
    return str(ipaddress.IPv6Network(f"{ha_address}/{length}", strict=False).network_address + HOME_ADDRESS_IID)


def mn_config(spec: Testbed, node: Node, workdir: Path, edition: str = "rfc4140") -> dict:
    """The mobile node: its home agent is the testbed's node running hmipv6-ha, its correspondents those running
    hmipv6-cn (route optimisation with each), timers from the profile."""
    t = spec.timers
    access = next(i for i in node.interfaces.values() if spec.links[i.link].access)
    section: dict = {"iface": access.name}
    has = _daemon_nodes(spec, "hmipv6-ha")
    if has:
        section["home_agent"] = _first_address(has[0])[1]
        section["home_address"] = home_address(spec)
    section["correspondents"] = [_first_address(n)[1] for n in _daemon_nodes(spec, "hmipv6-cn")]
    lifetime = int(max(4, t.binding_lifetime))
    section.update({
        "map_lifetime": lifetime, "ha_lifetime": lifetime, "cn_lifetime": min(lifetime, 420),
        "initial_bindack_timeout_first_reg": t.initial_bindack_timeout_first_reg,
        "initial_bindack_timeout": t.initial_bindack_timeout, "max_bindack_timeout": t.max_bindack_timeout,
        "max_rtr_solicitation_delay": t.max_rtr_solicitation_delay,
        "rtr_solicitation_interval": t.rtr_solicitation_interval,
        **node.daemon_options,
    })
    return {"role": "mn", "edition": edition, "control_socket": str(workdir / "hmipv6-mn.sock"),
            "log_file": str(workdir / "hmipv6-mn.log"), "mn": section, **_security(spec, workdir, mn=node.name)}


def _security(spec: Testbed, workdir: Path, **end: str) -> dict:
    """The daemon's ``security:`` section: the testbed's SA pairs ending at this node (base §12.1), if IPsec is on.
    The file then holds keys: it is written with mode 0600 and never copied into a run's evidence.  The outbound
    sequence numbers survive the daemon's restarts (``sequence_file`` in the node's work directory): the peers'
    anti-replay windows are not reset when the harness restarts a daemon."""
    section = spec.security.daemon_section(**end)
    if section is None:
        return {}
    return {"security": {**section, "sequence_file": str(workdir / "ipsec-sequences.json")}}


def ha_config(spec: Testbed, node: Node, workdir: Path, edition: str = "rfc4140") -> dict:
    iface, address, length = _first_address(node)
    return {"role": "ha", "edition": edition, "control_socket": str(workdir / "hmipv6-ha.sock"),
            "log_file": str(workdir / "hmipv6-ha.log"),
            "ha": {"address": address, "home_iface": iface, "prefix_length": length, "dad": "on",
                   "dad_retrans_timer": spec.timers.retrans_timer, **node.daemon_options}}


def cn_config(spec: Testbed, node: Node, workdir: Path, edition: str = "rfc4140") -> dict:
    iface, address, _ = _first_address(node)
    return {"role": "cn", "edition": edition, "control_socket": str(workdir / "hmipv6-cn.sock"),
            "log_file": str(workdir / "hmipv6-cn.log"),
            "cn": {"address": address, "listen": [iface], **node.daemon_options}}


RENDER = {"hmipv6-map": map_config, "hmipv6-ar": ar_config, "hmipv6-mn": mn_config, "hmipv6-ha": ha_config,
          "hmipv6-cn": cn_config}
