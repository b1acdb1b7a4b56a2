"""The one timer profile every protocol timer comes from.

``rfc`` holds the defaults of the specifications (for labs and real devices); ``scaled``
multiplies every duration by a factor (for virtual runs, where waiting ten real seconds for
an echo probe would make the suite take hours).  The harness writes these concrete values
into the configuration of the reference daemons and uses them for its own deadlines, so a
test's waiting time always follows from the same numbers the protocol runs on.
"""

from __future__ import annotations

import dataclasses

#: Protocol constants in seconds, with the clause that defines each one.
RFC_DEFAULTS: dict[str, tuple[float, str]] = {
    # RFC 4861 §6.2.1 / §10 (router and host constants)
    "max_rtr_adv_interval": (600.0, "RFC 4861 §6.2.1 MaxRtrAdvInterval"),
    "min_rtr_adv_interval": (198.0, "RFC 4861 §6.2.1 MinRtrAdvInterval (0.33 x Max)"),
    "max_initial_rtr_advert_interval": (16.0, "RFC 4861 §10 MAX_INITIAL_RTR_ADVERT_INTERVAL"),
    "max_ra_delay_time": (0.5, "RFC 4861 §10 MAX_RA_DELAY_TIME"),
    "min_delay_between_ras": (3.0, "RFC 4861 §10 MIN_DELAY_BETWEEN_RAS"),
    "rtr_solicitation_interval": (4.0, "RFC 4861 §10 RTR_SOLICITATION_INTERVAL"),
    "max_rtr_solicitation_delay": (1.0, "RFC 4861 §10 MAX_RTR_SOLICITATION_DELAY"),
    "retrans_timer": (1.0, "RFC 4861 §10 RETRANS_TIMER (DAD wait)"),
    # RFC 6275 §12 (Mobile IPv6 protocol constants)
    "initial_bindack_timeout": (1.0, "RFC 6275 §12 INITIAL_BINDACK_TIMEOUT"),
    "initial_bindack_timeout_first_reg": (1.5, "RFC 6275 §13 InitialBindackTimeoutFirstReg"),
    "max_bindack_timeout": (32.0, "RFC 6275 §12 MAX_BINDACK_TIMEOUT"),
    "binding_lifetime": (420.0, "suite default requested binding lifetime (RFC 6275 leaves it open)"),
    # draft-ietf-mipshop-hmipv6-04 / RFC 4140 §10 (MAP failure detection, given as an example)
    "map_probe_interval": (10.0, "base §10 echo request every 10 s (example)"),
    "map_probe_aggressive_interval": (5.0, "base §10 aggressive probing every 5 s (example)"),
    "map_probe_aggressive_period": (15.0, "base §10 aggressive probing for 15 s (example)"),
}

PROFILE_NAMES = ("rfc", "scaled")
DEFAULT_SCALE = 0.05


@dataclasses.dataclass(frozen=True)
class TimerProfile:
    """Concrete timer values in seconds.  ``value(name)`` or attribute access."""

    name: str
    factor: float
    values: dict[str, float]

    @classmethod
    def make(cls, name: str = "rfc", factor: float | None = None,
             overrides: dict[str, float] | None = None) -> "TimerProfile":
        if name not in PROFILE_NAMES:
            raise ValueError(f"unknown timer profile {name!r} (expected one of {', '.join(PROFILE_NAMES)})")
        if name == "rfc":
            if factor not in (None, 1, 1.0):
                raise ValueError("the 'rfc' timer profile cannot be scaled; use profile 'scaled'")
            factor = 1.0
        factor = DEFAULT_SCALE if factor is None else float(factor)
        if not 0 < factor <= 1:
            raise ValueError(f"timer scale factor must be in (0, 1], got {factor}")
        values = {k: v * factor for k, (v, _) in RFC_DEFAULTS.items()}
        for key, val in (overrides or {}).items():
            if key not in RFC_DEFAULTS:
                raise ValueError(f"unknown timer {key!r}")
            values[key] = float(val)
        return cls(name, factor, values)

    def __getattr__(self, item: str) -> float:
        try:
            return self.__dict__["values"][item]
        except KeyError:
            raise AttributeError(item) from None

    def as_dict(self) -> dict[str, object]:
        return {"profile": self.name, "factor": self.factor, "values": dict(self.values)}
