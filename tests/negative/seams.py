"""Security-seam wrappers the MAP and MN variants share: a real seam with one duty dropped, a patch applied before
protection, and ICV checks that always agree.  Test-only, like the variants."""

from __future__ import annotations

from collections.abc import Callable


class Careless:
    """The real seam, except: ``plain_out`` -- what it should protect goes out unprotected; ``plain_in`` -- an
    unprotected incoming BU/BA is taken (``required`` off)."""

    def __init__(self, real, *, plain_out: bool = False, plain_in: bool = False) -> None:
        self.real, self.plain_out, self.plain_in = real, plain_out, plain_in

    @property
    def required(self) -> bool:
        return self.real.required and not self.plain_in

    def protect(self, packet, pair):
        return packet if self.plain_out else self.real.protect(packet, pair)

    def __getattr__(self, name):
        return getattr(self.real, name)


class PatchFirst:
    """The real seam with ``patch(packet)`` applied to each outgoing packet before it is protected (the broken
    message is what gets protected); ``patch`` returning None records the packet in ``dropped``."""

    def __init__(self, real, patch: Callable) -> None:
        self.real, self.patch, self.dropped = real, patch, []

    def protect(self, packet, pair):
        patched = self.patch(packet)
        if patched is None:
            self.dropped.append(packet)
            return packet
        return self.real.protect(patched, pair)

    def __getattr__(self, name):
        return getattr(self.real, name)


def with_seam(core_class: type, wrap: Callable) -> Callable:
    """A core factory whose security seam -- set by the daemon after construction -- is ``wrap(real seam)``."""
    def factory(config, edition):
        class Variant(core_class):
            @property
            def security(self):
                return self._variant_security

            @security.setter
            def security(self, value):
                self._variant_security = wrap(value)
        return Variant(config, edition)
    return factory


def lenient_icv() -> None:
    """ESP and AH ICVs compared with a function that always agrees (integrity not checked); the variant's process
    runs nothing else."""
    from reference_impl.ipsec import ah, esp

    class Lenient:
        @staticmethod
        def compare_digest(a, b):
            return True
    esp.hmac = ah.hmac = Lenient
