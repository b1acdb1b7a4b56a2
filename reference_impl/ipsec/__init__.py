"""Userspace IPsec for Mobile IPv6 signalling: ESP and AH in transport mode (the host kernel has neither).

Base document §12.1: "Binding updates between the MAP and the mobile node MUST be protected with either AH or ESP
in transport mode.  When ESP is used, a non-null authentication algorithm MUST be used."

* :class:`SecurityAssociation` (manually keyed; ``from_config`` for YAML/JSON), refused with
  :class:`SaConfigError` when it cannot satisfy §12.1 or the RFCs.
* :func:`esp_encapsulate` / :func:`esp_decapsulate` (RFC 4303), :func:`ah_encapsulate` / :func:`ah_decapsulate`
  (RFC 4302 with RFC 6275's Home Address option / type 2 routing header rules); packet failures are
  :class:`IpsecError`.
* Anti-replay belongs to the receiver: ``esp_spi``/``ah_spi`` → ``ReplayWindow.check`` → decapsulate →
  ``ReplayWindow.accept`` (RFC 4303 §3.4.3); outbound numbers from :class:`SequenceCounter`.

Bytes in, bytes out: no sockets, no scapy, nothing from the harness.
"""

from __future__ import annotations

from .ah import ah_decapsulate, ah_encapsulate, ah_icv_view, ah_length, ah_spi
from .algorithms import AUTH_ALGORITHMS, ENCRYPTION_ALGORITHMS, AuthAlgorithm, EncryptionAlgorithm
from .errors import IpsecError, SaConfigError
from .esp import esp_decapsulate, esp_encapsulate, esp_spi
from .replay import ReplayWindow, SequenceCounter
from .sa import Decapsulated, SecurityAssociation

__all__ = [
    "AUTH_ALGORITHMS", "AuthAlgorithm", "Decapsulated", "ENCRYPTION_ALGORITHMS", "EncryptionAlgorithm",
    "IpsecError", "ReplayWindow", "SaConfigError", "SecurityAssociation", "SequenceCounter", "ah_decapsulate",
    "ah_encapsulate", "ah_icv_view", "ah_length", "ah_spi", "esp_decapsulate", "esp_encapsulate", "esp_spi",
]
