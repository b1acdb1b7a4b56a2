"""Security-seam wrappers the MAP and MN variants share: a real seam with one duty dropped, a patch applied before
protection, and ICV checks that always agree.  Test-only, like the variants."""

from __future__ import annotations

import inspect
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


def overriding(base: type, **overrides: Callable) -> Callable:
    """A core factory ``(config, edition) -> core``: a subclass of ``base`` with the named methods replaced, each
    override called as ``fn(self, original, *args, **kwargs)`` with ``base``'s own method as ``original``.

    Checked when the variant is defined, not when it runs: the method exists and the override takes exactly the
    original's positional parameters.  A core method whose signature changed would otherwise raise inside the
    daemon (counted as an internal error), the broken behaviour would never happen, and the variant's test would
    end INCONCLUSIVE instead of FAIL -- the control would stop controlling anything."""
    for name, fn in overrides.items():
        _check_override(base, name, fn)

    def factory(config, edition):
        cls = type(f"Variant{base.__name__}", (base,), {
            name: (lambda fn, original: lambda self, *a, **k: fn(self, original, *a, **k))(fn, getattr(base, name))
            for name, fn in overrides.items()})
        return cls(config, edition)
    return factory


def _positional(fn: Callable, skip: int) -> list[inspect.Parameter] | None:
    """The positional parameters of ``fn`` after the first ``skip``; None if it takes ``*args``."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _check_override(base: type, name: str, fn: Callable) -> None:
    original = getattr(base, name, None)
    if not callable(original):
        raise TypeError(f"variant override {fn.__qualname__}: {base.__name__} has no method {name!r}")
    wanted, taken = _positional(original, 1), _positional(fn, 2)
    if wanted is not None and taken is not None and len(wanted) != len(taken):
        raise TypeError(f"variant override {fn.__qualname__}{inspect.signature(fn)} does not take the parameters of "
                        f"{base.__name__}.{name}{inspect.signature(original)} (after self, original)")
