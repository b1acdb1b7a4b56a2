"""Deliberately broken reference mobile-node cores (the MN rows of the negative-control matrix).

Same format as :mod:`variants` (merged into its ``VARIANTS``): name -> (role, test function, expected verdict,
requirement the verdict must name, core factory).  Only :mod:`run_variant` switches them on, through
``reference_impl.daemon.mn_main.main(argv, core_factory=...)``; the shipped daemon has no configuration key or
flag that reaches these.  Each variant breaks one behaviour of :class:`reference_impl.mn.core.MnCore` (a
subclass overriding one method, or a patch of a module-level function in this variant's own process).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

from reference_impl.actions import Send
from reference_impl.mn import core as mn_core_module
from reference_impl.mn.core import MnCore
from seams import Careless, PatchFirst, lenient_icv, overriding, with_seam
from reference_impl.wire.ipv6 import Packet
from reference_impl.wire.mobility import BU_A, BU_H, BU_M, AlternateCareOfAddress, BindingUpdate


def _mn(**overrides: Callable) -> Callable:
    """An MnCore subclass with the given methods replaced (each gets ``self`` and the original)."""
    return overriding(MnCore, **overrides)


def _mn_config(**changes) -> Callable:
    return lambda config, edition: MnCore(dataclasses.replace(config, **changes), edition)


def _patched_selection(select: Callable) -> Callable:
    """Replace the MAP selection function the core calls (this process runs only the variant)."""
    def factory(config, edition):
        mn_core_module.select_maps = select
        return MnCore(config, edition)
    return factory


# -- the local BU ------------------------------------------------------------------------------------------
def _local_bu_patched(patch: Callable) -> Callable:
    """``patch(self, entry, packet) -> packet`` applied to every local BU (BU to a MAP) the core builds, before
    IPsec protects it."""
    def _bu_packet(self, original, entry, units):
        if entry.kind != "map":
            return original(self, entry, units)
        real = self.security
        self.security = PatchFirst(real, lambda packet: patch(self, entry, packet))
        try:
            return original(self, entry, units)
        finally:
            self.security = real
    return _bu_packet


def _without_m(self, entry, packet):
    return dataclasses.replace(packet, payload=dataclasses.replace(packet.payload, flags=BU_A))


def _rcoa_as_source(self, entry, packet):
    return dataclasses.replace(packet, src=entry.home)


def _lifetime_ignores_option(self, original, now, entry):
    """Local BUs ask for the configured lifetime whatever the MAP option and the prefix allow."""
    if entry.kind == "map" and entry.lifetime_override is None:
        return float(self.config.map_lifetime)
    return original(self, now, entry)


def _no_backoff(self, original, now, entry):
    """Every retransmission waits the initial timeout again (no doubling)."""
    entry.timeout = self.config.initial_bindack_timeout_first_reg
    return original(self, now, entry)


def _no_lifetime_subtraction(self, original, now, entry, ba, sent_at, requested):
    """The BA's shorter lifetime is ignored: the binding is taken as granted for the requested lifetime."""
    return original(self, now, entry, dataclasses.replace(ba, lifetime=requested // 4), sent_at, requested)


# -- the BAs the MN must ignore --------------------------------------------------------------------------
def _ba_rh2_not_checked(replace_when: Callable) -> Callable:
    """A BA from a MAP is taken as if its type 2 routing header held the RCoA when ``replace_when(packet,
    entry)``."""
    def _on_ba(self, original, now, packet, ba, via, *rest):
        entry = self.bul.get(("map", packet.src))
        if entry is not None and replace_when(packet, entry):
            packet = dataclasses.replace(packet, rh2_address=entry.home)
        return original(self, now, packet, ba, via, *rest)
    return _on_ba


def _135_own_numbering(self, original, now, packet, ba, via, *rest):
    """A BA with status 135 is taken as a rejection, but its sequence number is not: the MN goes on numbering from
    its own last BU."""
    entry = self.bul.get(("map", packet.src))
    if ba.status == 135 and entry is not None:
        ba = dataclasses.replace(ba, seq=entry.seq)
    return original(self, now, packet, ba, via, *rest)


def _mn_no_mh_checksum_check(config, edition):
    """Mobility Header (and ICMPv6) checksums are not verified on receipt (RFC 6275 §9.2 not applied)."""
    from reference_impl.wire import ipv6

    ipv6.verify_upper_layer_checksum = lambda *args: True  # this process runs only the variant
    return MnCore(config, edition)


def _home_bu_with_m(self, entry, packet):
    """The home registration carries the M flag as if it were a MAP registration."""
    inner = packet.payload if isinstance(packet.payload, type(packet)) else None
    target = inner if inner is not None else packet
    bu = target.payload
    patched = dataclasses.replace(target, payload=dataclasses.replace(bu, flags=bu.flags | BU_M))
    return dataclasses.replace(packet, payload=patched) if inner is not None else patched


# -- IPsec (base §12.1) ----------------------------------------------------------------------------------
def _mn_no_icv_check(config, edition):
    """ESP and AH ICVs are not checked."""
    lenient_icv()
    return MnCore(config, edition)


def _mn_takes_spoofed_ba(config, edition):
    """Unprotected BAs are taken, and a BA without a type 2 routing header counts as holding the RCoA."""
    fix_rh2 = _ba_rh2_not_checked(lambda p, e: p.rh2_address is None)
    base = with_seam(MnCore, lambda real: Careless(real, plain_in=True))(config, edition)

    class Variant(type(base)):
        def _on_ba(self, *a, **k):
            return fix_rh2(self, MnCore._on_ba, *a, **k)
    core = Variant(config, edition)
    return core


def _hoti_encapsulated_once(self, original, cn, home_coa):
    """The Home Test Init leaves inside the MAP tunnel only, without the tunnel to the HA (not twice, §12.2)."""
    out = []
    for action in original(self, cn, home_coa):
        p = action.packet if isinstance(action, Send) else None
        if p is not None and isinstance(p.payload, Packet) and isinstance(p.payload.payload, Packet):
            action = dataclasses.replace(action, packet=dataclasses.replace(p, payload=p.payload.payload))
        out.append(action)
    return out


# -- the home registration -------------------------------------------------------------------------------
def _home_before_map_ba_coa(self, original):
    """The primary RCoA counts as the care-of address as soon as the local BU is sent."""
    if self.mode == "hmipv6":
        primary = self._primary_entry()
        if primary is not None:
            return primary.home
    return original(self)


def _home_before_map_ba_remaining(self, original, now, coa):
    entry = next((e for e in self.bul.values() if e.kind == "map" and e.home == coa), None)
    if entry is not None and entry.expires is None:
        return float(self.config.map_lifetime)
    return original(self, now, coa)


def _home_before_map_ba_entry(self, original, now, opt, role):
    return original(self, now, opt, role) + self._register_home(now)


def _home_bu_patched(patch: Callable) -> Callable:
    """``patch(self, entry, packet) -> packet`` applied to every home registration (outer packet as built)."""
    def _bu_packet(self, original, entry, units):
        packet = original(self, entry, units)
        return patch(self, entry, packet) if entry.kind == "ha" else packet
    return _bu_packet


def _home_bu_without_h(self, entry, packet):
    inner = packet.payload if isinstance(packet.payload, type(packet)) else None
    target = inner if inner is not None else packet
    bu = target.payload
    patched = dataclasses.replace(target, payload=dataclasses.replace(bu, flags=bu.flags & ~BU_H))
    return dataclasses.replace(packet, payload=patched) if inner is not None else patched


def _home_bu_names_lcoa(self, entry, packet):
    """The home registration's Alternate Care-of Address option carries the LCoA (the RCoA stays the source)."""
    inner = packet.payload if isinstance(packet.payload, type(packet)) else packet
    bu: BindingUpdate = inner.payload
    options = tuple(AlternateCareOfAddress(self.lcoa) if isinstance(o, AlternateCareOfAddress) else o
                    for o in bu.options) or (AlternateCareOfAddress(self.lcoa),)
    patched = dataclasses.replace(inner, payload=dataclasses.replace(bu, options=options))
    return dataclasses.replace(packet, payload=patched) if inner is not packet else patched


def _home_lifetime_ignores_map(self, original, now, entry):
    if entry.kind == "ha":
        return float(self.config.ha_lifetime)
    return original(self, now, entry)


def _reverse_tunnel_bypasses_map(self, original):
    """Packets from the home address are reverse-tunnelled LCoA -> HA, around the MAP."""
    paths = original(self)
    if paths.mode == "hmipv6" and paths.ha_coa is not None:
        return dataclasses.replace(paths, ha_coa=paths.lcoa)
    return paths


def _route_optimised_from_lcoa(self, original):
    """Route-optimised packets leave from the LCoA (with the home address in a HAO), not from the RCoA the
    correspondents hold."""
    paths = original(self)
    if paths.ro and paths.lcoa is not None:
        return dataclasses.replace(paths, ro=tuple((cn, paths.lcoa) for cn, _ in paths.ro))
    return paths


def _correspondent_lifetime_ignores_map(self, original, now, entry):
    if entry.kind == "cn":
        return float(self.config.cn_lifetime)
    return original(self, now, entry)


def _correspondents_not_updated(self, original, now, cn, **kw):
    """Return routability (and so a correspondent registration) only for correspondents not registered yet."""
    if ("cn", cn.address) in self.bul:
        return []
    return original(self, now, cn, **kw)


# -- MAP selection ---------------------------------------------------------------------------------------
def _select(key: Callable, keep_pref_zero: bool = False) -> Callable:
    def select_maps(options, *, method="dist", current=None, exclude=(), count=1):
        excluded = set(exclude)
        usable = [o for o in options if o.valid_lifetime > 0 and o.dist > 0 and o.address not in excluded]
        for_new = sorted((o for o in usable if keep_pref_zero or o.pref > 0), key=key)
        kept = next((o for o in usable if o.address == current), None) if current is not None else None
        chosen = [kept] if kept is not None else []
        chosen += [o for o in for_new if kept is None or o.address != kept.address]
        return chosen[:count]
    return select_maps


def _failed_map_kept(self, original, now, options):
    """A MAP option with valid lifetime 0 is taken as valid (no MAP failure is ever noticed)."""
    return original(self, now, tuple(dataclasses.replace(o, valid_lifetime=86400) if o.valid_lifetime == 0 else o
                                     for o in options))


def _maps_never_withdrawn(self, original, now, options):
    """MAP options no longer advertised stay stored (and the current MAP stays selected) for ever."""
    kept = {a: s for a, s in self.maps.items()}
    actions = original(self, now, options)
    for address, stored in kept.items():
        self.maps.setdefault(address, stored)
    return actions


def _no_mipv6_fallback(self, original, now, reason):
    return []


def _home_bu_on_intra_move(self, original, now):
    before = self.counters["handovers"]["intra"]
    actions = original(self, now)
    if self.counters["handovers"]["intra"] > before:
        self._ha_refresh_wanted = True
        actions += self._register_home(now)
    return actions


# -- overlapping domains and Pref 0 (§9, §7.2) ----------------------------------------------------------------
def _temporary_rcoa(self, original, opt):
    """Each LCoA gets its own RCoA on a MAP's prefix: a new interface identifier per attachment, as temporary
    addresses have (RFC 8981)."""
    rcoa, actions = original(self, opt)
    if self.lcoa is None:
        return rcoa, actions
    iid = hashlib.sha256(self.lcoa + opt.address).digest()[:8]
    return rcoa[:8] + bytes([iid[0] & 0xFD]) + iid[1:], actions


def _new_binding_on_move(self, original, now):
    """After a move within its MAP's domain the MN registers a new RCoA with the MAP it is using, whatever the MAP's
    preference, instead of updating its existing binding."""
    primary = self._primary_entry()
    if primary is not None and self.lcoa is not None and primary.coa != self.lcoa and primary.peer in self.maps:
        option = self.maps[primary.peer].option
        if option.valid_lifetime > 0:
            actions = self._drop_entry(primary, "moved")
            self.primary = option.address
            return actions + self._new_map_entry(now, option, "primary") + original(self, now)
    return original(self, now)


def _never_eager(self, original, now):
    """A MAP advertised for the first time is never registered with while the current one is usable."""
    self._new_maps = set()
    return original(self, now)


def _deregisters_old_map(self, original, now, old):
    """On changing MAP the old binding is released at once -- a BU with lifetime 0 to the old MAP -- although that
    MAP is still advertised."""
    if old.expires is None or self.lcoa is None:
        return original(self, now, old)
    old.seq = (old.seq + 1) & 0xFFFF
    self._last_seq[old.key] = old.seq
    packet = self._bu_packet(old, 0)
    return self._drop_entry(old, "deregistered") + [Send(self.config.iface, packet, self._link_dst())]


def _takes_invalid_ra(self, original, now, packet, ra):
    """Router Advertisements are taken whatever their source address and hop limit."""
    if packet.hop_limit != 255 or packet.src[:2] != b"\xfe\x80":
        packet = dataclasses.replace(packet, hop_limit=255, src=b"\xfe\x80" + bytes(6) + packet.src[8:])
    return original(self, now, packet, ra)


MN_VARIANTS: dict[str, tuple[str, str, str, str, Callable]] = {
    # name: (role, test function, expected verdict, requirement named, core factory)
    "mn-ba-icv-not-checked": ("mn", "test_forged_ba_ignored", "FAIL", "HMIP-4140-12-P1-MUST-1", _mn_no_icv_check),
    "mn-takes-spoofed-ba": ("mn", "test_spoofed_ba_without_rh2_ignored", "FAIL", "HMIP-4140-12.1-P6-MUST-1",
                            _mn_takes_spoofed_ba),
    "mn-hoti-encapsulated-once": ("mn", "test_hoti_source_and_encapsulation", "FAIL", "HMIP-4140-12.2-P1-BIND-1",
                                  _mn(_send_tests=_hoti_encapsulated_once)),
    "mn-takes-invalid-ra": ("mn", "test_invalid_advertisement_ignored", "FAIL", "ND-4861-6.1.2-P1-MUST-1",
                            _mn(_on_ra=_takes_invalid_ra)),
    "mn-bu-unprotected": ("mn", "test_local_bu_protected", "FAIL", "HMIP-4140-12.1-P6-MUST-1",
                          with_seam(MnCore, lambda real: Careless(real, plain_out=True))),
    "mn-takes-unprotected-ba": ("mn", "test_unprotected_ba_ignored", "FAIL", "HMIP-4140-12.1-P6-MUST-1",
                                with_seam(MnCore, lambda real: Careless(real, plain_in=True))),
    "mn-local-bu-without-m": ("mn", "test_local_bu_format", "FAIL", "HMIP-4140-4.1-P1-MUST-1",
                              _mn(_bu_packet=_local_bu_patched(_without_m))),
    "mn-rcoa-as-lcoa": ("mn", "test_local_bu_format", "FAIL", "HMIP-4140-3.1-P10-MUST-1",
                        _mn(_bu_packet=_local_bu_patched(_rcoa_as_source))),
    "mn-lifetime-above-option": ("mn", "test_local_bu_lifetime_bounded", "WARN", "MIP6-6275-11.7.1-P11-SHOULD-1",
                                 _mn(_lifetime=_lifetime_ignores_option)),
    "mn-no-backoff": ("mn", "test_local_bu_backoff", "FAIL", "MIP6-6275-11.8-P7-MUST-1",
                      _mn(_transmit=_no_backoff)),
    "mn-no-lifetime-subtraction": ("mn", "test_local_bu_refresh", "FAIL", "MIP6-6275-11.7.3-P7-MUST-3",
                                   _mn(_ba_accepted=_no_lifetime_subtraction)),
    "mn-accepts-ba-without-rh2": ("mn", "test_ba_without_rh2_ignored", "FAIL", "HMIP-4140-6.1-P1-MUST-1",
                                  _mn(_on_ba=_ba_rh2_not_checked(lambda p, e: p.rh2_address is None))),
    "mn-accepts-ba-other-rcoa": ("mn", "test_ba_other_rcoa_ignored", "FAIL", "HMIP-4140-6.1-P1-MUST-1",
                                 _mn(_on_ba=_ba_rh2_not_checked(lambda p, e: p.rh2_address is not None))),
    "mn-home-bu-before-map-ba": ("mn", "test_home_registration_waits_for_map_ba", "WARN", "HMIP-4140-6.1-P5-SHOULD-1",
                                 _mn(_current_coa=_home_before_map_ba_coa,
                                     _coa_remaining=_home_before_map_ba_remaining,
                                     _new_map_entry=_home_before_map_ba_entry)),
    "mn-ignores-135-seq": ("mn", "test_ba_status_handling", "FAIL", "MIP6-6275-11.7.1-P17-MUST-1",
                           _mn(_on_ba=_135_own_numbering)),
    "mn-no-mh-checksum-check": ("mn", "test_ba_bad_checksum_ignored", "FAIL", "MIP6-6275-9.2-P2-MUST-1",
                                _mn_no_mh_checksum_check),
    "mn-home-bu-with-m": ("mn", "test_home_registration_after_map_ba", "FAIL", "HMIP-4140-4.1-P4-BIND-1",
                          _mn(_bu_packet=_home_bu_patched(_home_bu_with_m))),
    "mn-home-bu-without-h": ("mn", "test_home_registration_after_map_ba", "FAIL", "MIP6-6275-11.7.1-P4-MUST-1",
                             _mn(_bu_packet=_home_bu_patched(_home_bu_without_h))),
    "mn-home-lifetime-above-map": ("mn", "test_home_lifetime_bounded_by_map", "FAIL", "HMIP-4140-6.1-P5-MUST-NOT-1",
                                   _mn(_lifetime=_home_lifetime_ignores_map)),
    "mn-nearest-map": ("mn", "test_default_map_selection", "WARN", "HMIP-4140-7.2-P2-SHOULD-1",
                       _patched_selection(_select(lambda o: (o.dist, -o.pref, o.address)))),
    "mn-lower-pref-at-equal-dist": ("mn", "test_equal_distance_preference", "FAIL", "HMIP-4140-5-P5-BIND-1",
                                    _patched_selection(_select(lambda o: (-o.dist, o.pref, o.address)))),
    "mn-ignores-pref-at-equal-dist": ("mn", "test_equal_distance_preference", "WARN", "HMIP-4140-7.2-P2-SHOULD-1",
                                      _patched_selection(_select(lambda o: (-o.dist, o.address)))),
    "mn-pref-zero-chosen": ("mn", "test_preference_zero_not_chosen", "WARN", "HMIP-4140-7.2-P2-SHOULD-NOT-1",
                            _patched_selection(_select(lambda o: (-o.dist, -o.pref, o.address), keep_pref_zero=True))),
    "mn-new-rcoa-at-pref-zero-map": ("mn", "test_preference_zero_on_map_in_use", "WARN",
                                     "HMIP-4140-7.2-P2-SHOULD-NOT-1",
                                     _mn(_form_rcoa=_temporary_rcoa, _reconsider=_new_binding_on_move)),
    "mn-pref-zero-map-rebound": ("mn", "test_preference_zero_on_map_in_use", "WARN", "HMIP-4140-7.2-P2-SHOULD-NOT-1",
                                 _patched_selection(_select(lambda o: (-o.dist, -o.pref, o.address),
                                                            keep_pref_zero=True))),
    "mn-not-eager": ("mn", "test_eager_and_lazy", "FAIL", "HMIP-4140-9-P4-BIND-1", _mn(_reconsider=_never_eager)),
    "mn-releases-old-binding": ("mn", "test_eager_and_lazy", "FAIL", "HMIP-4140-9-P4-BIND-2",
                                _mn(_leave_map=_deregisters_old_map)),
    "mn-keeps-failed-map": ("mn", "test_valid_lifetime_zero_rebinds", "FAIL", "HMIP-4140-7.2-P3-MUST-1",
                            _mn(_store_maps=_failed_map_kept)),
    "mn-keeps-only-failed-map": ("mn", "test_only_map_fails", "FAIL", "HMIP-4140-7.2-P3-MUST-2",
                                 _mn(_store_maps=_failed_map_kept)),
    "mn-no-mipv6-without-map": ("mn", "test_no_map_option_mobile_ipv6", "FAIL", "HMIP-4140-7.2-P6-MUST-1",
                                _mn(_enter_mipv6=_no_mipv6_fallback)),
    "mn-home-bu-on-intra-move": ("mn", "test_intra_domain_move", "FAIL", "HMIP-4140-6.1-P8-BIND-1",
                                 _mn(_reconsider=_home_bu_on_intra_move)),
    "mn-stays-with-old-map-on-move": ("mn", "test_inter_domain_move", "FAIL", "HMIP-4140-3.1-P7-MUST-1",
                                      _mn(_store_maps=_maps_never_withdrawn)),
    "mn-no-previous-map-bu": ("mn", "test_inter_domain_move", "WARN", "HMIP-4140-6.1-P6-SHOULD-1",
                              _mn_config(previous_map_update=False)),
    "mn-ignores-map-change": ("mn", "test_map_address_change", "FAIL", "HMIP-4140-3.1-P7-MUST-1",
                              _mn(_store_maps=_maps_never_withdrawn)),
    "mn-reverse-tunnel-bypasses-map": ("mn", "test_reverse_tunnel_to_map", "FAIL", "HMIP-4140-6.1-P2-BIND-1",
                                       _mn(paths=_reverse_tunnel_bypasses_map)),
    "mn-route-optimised-from-lcoa": ("mn", "test_route_optimised_packets", "FAIL", "HMIP-4140-6.1.1-P2-MUST-1",
                                     _mn(paths=_route_optimised_from_lcoa)),
    "mn-correspondent-lifetime-above-map": ("mn", "test_correspondent_lifetime_bounded_by_map", "FAIL",
                                            "HMIP-4140-6.1-P5-MUST-NOT-1",
                                            _mn(_lifetime=_correspondent_lifetime_ignores_map)),
    "mn-correspondents-not-updated": ("mn", "test_map_change_updates_correspondents", "FAIL", "HMIP-4140-3.1-P7-MUST-1",
                                      _mn(_start_rr=_correspondents_not_updated)),
    "mn-lcoa-in-home-bu": ("mn", "test_lcoa_hidden_from_ha_and_cn", "FAIL", "HMIP-4140-6.1-P4-BIND-1",
                           _mn(_bu_packet=_home_bu_patched(_home_bu_names_lcoa))),
}

# base §9.1 default algorithm (HMIP-MN-SEL-006): the MN picks by highest Pref (base §7.2's rule) while the testbed
# (PICS map_selection_default_algorithm, default true) says it uses §9.1's largest-Dist-first default
MN_VARIANTS["mn-selects-by-pref-not-dist"] = ("mn", "test_default_algorithm_furthest_map", "FAIL",
                                              "HMIP-4140-9.1-P4-BIND-1", _mn_config(map_selection="pref"))


def _deletes_home_binding_with_lifetime(self, original, now, packet, ra):
    """Back on its home link the MN de-registers with its home agent by registering its home address as care-of
    address -- with a non-zero Lifetime (RFC 6275 §6.1.7: a deletion MUST carry Lifetime 0)."""
    actions = original(self, now, packet, ra)
    cfg = self.config
    entry = self.bul.get(("ha", cfg.home_agent)) if cfg.home_agent is not None else None
    at_home = self.router is not None and any(p.prefix[:8] == cfg.home_address[:8] for p in self.router.prefixes)
    if entry is None or not at_home or getattr(self, "_variant_deleted", False):
        return actions
    self._variant_deleted = True
    entry.seq = (entry.seq + 1) & 0xFFFF
    self._last_seq[entry.key] = entry.seq
    bu = BindingUpdate(entry.seq, BU_A | BU_H, 60 // 4, (AlternateCareOfAddress(cfg.home_address),))
    return actions + [Send(cfg.iface, Packet(cfg.home_address, cfg.home_agent, bu, hop_limit=64), self._link_dst())]


# RFC 6275 §6.1.7 (HMIP-MN-DEL-001): the deletion on returning home carries a non-zero Lifetime
MN_VARIANTS["mn-deletes-with-nonzero-lifetime"] = ("mn", "test_binding_deleted_with_lifetime_zero", "FAIL",
                                                   "MIP6-6275-6.1.7-P27-MUST-1",
                                                   _mn(_on_ra=_deletes_home_binding_with_lifetime))


def _home_address_in_local_bu(self, entry, packet):
    """The local BU carries the MN's home address, not its RCoA, in the Home Address option."""
    return dataclasses.replace(packet, home_address=self.config.home_address)


def _mtu_ignores_tunnel(config, edition):
    """The TUN device (the MTU the host stack's upper layers see) keeps the link MTU: the MAP tunnel's 40 octets,
    and the home-agent tunnel's inside it, are not taken off (patched in the daemon's host, this process only)."""
    from reference_impl.daemon import mn_main

    def _set_mtu(self) -> None:
        mtu = self.paths.link_mtu
        if mtu != self.mtu and self.kernel(f"ip link set {self.tun.name} mtu {mtu}",
                                           lambda: self.rtnl.set_mtu(self.index(self.tun.name), mtu)):
            self.mtu = mtu

    mn_main.MnHost._set_mtu = _set_mtu  # this process runs only the variant
    return MnCore(config, edition)


# base §7.2 (HMIP-MN-BU-005): with R set, the local BU names the home address instead of the RCoA
MN_VARIANTS["mn-home-address-in-local-bu"] = ("mn", "test_r_flag_rcoa_as_home_address", "FAIL",
                                              "HMIP-4140-7.2-P7-MUST-1",
                                              _mn(_bu_packet=_local_bu_patched(_home_address_in_local_bu)))

#: RFC 5380 edition rows (run with ``--edition rfc5380`` by test_negative_controls_rfc5380.py, not merged into
#: VARIANTS): name -> (role, test function, expected verdict, requirement named, core factory)
MN_VARIANTS_RFC5380: dict[str, tuple] = {
    "mn-home-address-in-local-bu-r-set": ("mn", "test_r_flag_rcoa_as_home_address", "FAIL", "HMIP-5380-7.1-P5-MUST-1",
                                          MN_VARIANTS["mn-home-address-in-local-bu"][4]),
    "mn-home-address-in-local-bu-r-clear": ("mn", "test_local_bu_format", "FAIL", "HMIP-5380-3.1-P8-BIND-1",
                                            MN_VARIANTS["mn-home-address-in-local-bu"][4]),
    "mn-mtu-ignores-tunnel": ("mn", "test_reverse_tunnel_to_map", "FAIL", "HMIP-5380-11-P1-MUST-1", _mtu_ignores_tunnel),
}
