"""The two exceptions of the IPsec package: one for packets, one for configuration."""

from __future__ import annotations

__all__ = ["IpsecError", "SaConfigError"]


class IpsecError(Exception):
    """A packet (or a sequence number) the SA must refuse.

    ``reason`` names the check that failed and where it is specified, e.g. ``ICV mismatch (RFC 4303 §3.4.4.1)``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SaConfigError(ValueError):
    """A Security Association that must be refused when configuration is loaded."""
