"""Return routability (RFC 6275 §5.2): the HoTI/CoTI/HoT/CoT messages (§6.1.3–§6.1.6), keygen tokens, the binding
management key and the Binding Authorization Data authenticator (§5.2.5, §6.2.7).  Shared by the correspondent
node (:mod:`reference_impl.cn`) and the mobile node (:mod:`reference_impl.mn`).

The wire codec keeps these four MH types opaque (:class:`~reference_impl.wire.MobilityUnknown`);
:func:`decode_rr` / :func:`encode_rr` convert between that and the dataclasses here::

    HoTI (MH type 1): Reserved (16) | Home Init Cookie (64) | options
    CoTI (MH type 2): Reserved (16) | Care-of Init Cookie (64) | options
    HoT  (MH type 3): Home Nonce Index (16) | Home Init Cookie (64) | Home Keygen Token (64) | options
    CoT  (MH type 4): Care-of Nonce Index (16) | Care-of Init Cookie (64) | Care-of Keygen Token (64) | options

No options are defined for these messages; received ones are ignored (RFC 6275 §6.1.3: "MUST ignore and skip").

Cryptography (§5.2.4, HMAC-SHA1 from the standard library)::

    home keygen token    = First(64, HMAC_SHA1(Kcn, home address | nonce | 0))
    care-of keygen token = First(64, HMAC_SHA1(Kcn, care-of address | nonce | 1))
    Kbm                  = SHA1(home keygen token | care-of keygen token)      (SHA1(home token) to delete)
    Authenticator        = First(96, HMAC_SHA1(Kbm, care-of address | correspondent | MH Data))

"MH Data" is the Mobility Header with a zero checksum and without the Authenticator field itself (§6.2.7).  It is
computed on the canonical encoding of the decoded message (:func:`mh_data`), which equals the bytes on the wire
for any sender that pads options minimally as RFC 6275 §6.2 describes.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, replace
from typing import ClassVar, Union

from ..wire.mobility import BindingAcknowledgement, BindingAuthorizationData, BindingUpdate, MobilityUnknown, encode_mh

__all__ = [
    "AUTHENTICATOR_LENGTH", "CareOfTest", "CareOfTestInit", "HomeTest", "HomeTestInit", "MAX_NONCE_LIFETIME",
    "MAX_RO_FAILURE", "MAX_RR_BINDING_LIFETIME", "MAX_TOKEN_LIFETIME", "RrMessage", "authenticator",
    "binding_management_key", "careof_keygen_token", "decode_rr", "encode_rr", "home_keygen_token", "mh_data",
    "sign", "verify",
]

# RFC 6275 §12 protocol constants used by return routability.
MAX_NONCE_LIFETIME = 240.0
MAX_TOKEN_LIFETIME = 210.0
MAX_RR_BINDING_LIFETIME = 420
MAX_RO_FAILURE = 3
AUTHENTICATOR_LENGTH = 12  # First(96, ...)

_INIT = struct.Struct("!H8s")
_TEST = struct.Struct("!H8s8s")


@dataclass(slots=True, frozen=True)
class HomeTestInit:
    """Home Test Init, MH type 1 (RFC 6275 §6.1.3)."""

    MH_TYPE: ClassVar[int] = 1
    cookie: bytes
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class CareOfTestInit:
    """Care-of Test Init, MH type 2 (RFC 6275 §6.1.4)."""

    MH_TYPE: ClassVar[int] = 2
    cookie: bytes
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class HomeTest:
    """Home Test, MH type 3 (RFC 6275 §6.1.5)."""

    MH_TYPE: ClassVar[int] = 3
    nonce_index: int
    cookie: bytes
    token: bytes


@dataclass(slots=True, frozen=True)
class CareOfTest:
    """Care-of Test, MH type 4 (RFC 6275 §6.1.6)."""

    MH_TYPE: ClassVar[int] = 4
    nonce_index: int
    cookie: bytes
    token: bytes


RrMessage = Union[HomeTestInit, CareOfTestInit, HomeTest, CareOfTest]


def decode_rr(msg: object) -> RrMessage | None:
    """The return routability message inside an opaque MH message, or None (other type, or too short: RFC 6275
    §9.2 says a Header Len below the message's minimum is discarded)."""
    if not isinstance(msg, MobilityUnknown):
        return None
    data = msg.data
    if msg.mh_type in (1, 2) and len(data) >= _INIT.size:
        reserved, cookie = _INIT.unpack_from(data)
        return (HomeTestInit if msg.mh_type == 1 else CareOfTestInit)(cookie, reserved)
    if msg.mh_type in (3, 4) and len(data) >= _TEST.size:
        index, cookie, token = _TEST.unpack_from(data)
        return (HomeTest if msg.mh_type == 3 else CareOfTest)(index, cookie, token)
    return None


def encode_rr(msg: RrMessage) -> MobilityUnknown:
    """The opaque MH message the packet encoder sends (Header Len 1 for HoTI/CoTI, 2 for HoT/CoT)."""
    if isinstance(msg, (HomeTestInit, CareOfTestInit)):
        if len(msg.cookie) != 8:
            raise ValueError("init cookies are 64 bits")
        return MobilityUnknown(msg.MH_TYPE, _INIT.pack(msg.reserved, msg.cookie))
    if len(msg.cookie) != 8 or len(msg.token) != 8:
        raise ValueError("cookies and keygen tokens are 64 bits")
    return MobilityUnknown(msg.MH_TYPE, _TEST.pack(msg.nonce_index, msg.cookie, msg.token))


# --------------------------------------------------------------------------------------------------- cryptography


def _token(kcn: bytes, address: bytes, nonce: bytes, which: int) -> bytes:
    return hmac.new(kcn, address + nonce + bytes((which,)), hashlib.sha1).digest()[:8]


def home_keygen_token(kcn: bytes, home_address: bytes, nonce: bytes) -> bytes:
    """RFC 6275 §5.2.5: First(64, HMAC_SHA1(Kcn, home address | nonce | 0))."""
    return _token(kcn, home_address, nonce, 0)


def careof_keygen_token(kcn: bytes, care_of_address: bytes, nonce: bytes) -> bytes:
    """RFC 6275 §5.2.5: First(64, HMAC_SHA1(Kcn, care-of address | nonce | 1))."""
    return _token(kcn, care_of_address, nonce, 1)


def binding_management_key(home_token: bytes, careof_token: bytes | None) -> bytes:
    """RFC 6275 §5.2.5: Kbm = SHA1(home token | care-of token); SHA1(home token) alone for a deletion."""
    return hashlib.sha1(home_token + (careof_token or b"")).digest()


Signed = Union[BindingUpdate, BindingAcknowledgement]


def _with_auth(msg: Signed, value: bytes) -> Signed:
    options = tuple(o for o in msg.options if not isinstance(o, BindingAuthorizationData))
    return replace(msg, options=options + (BindingAuthorizationData(value),))


def mh_data(msg: Signed, length: int = AUTHENTICATOR_LENGTH) -> bytes:
    """RFC 6275 §6.2.7 "MH Data": the Mobility Header of ``msg`` with a Binding Authorization Data option (last,
    ``length`` octets) whose Authenticator field is left out, checksum zero.

    The field is located by encoding the message twice with different fillers (the encoder is deterministic), so
    the result does not depend on where alignment padding falls.
    """
    zeros = encode_mh(_with_auth(msg, bytes(length)))
    ones = encode_mh(_with_auth(msg, b"\xff" * length))
    at = next(i for i in range(len(zeros)) if zeros[i] != ones[i])
    return zeros[:at] + zeros[at + length:]


def authenticator(kbm: bytes, care_of_address: bytes, correspondent: bytes, msg: Signed) -> bytes:
    """RFC 6275 §6.2.7: First(96, HMAC_SHA1(Kbm, care-of address | correspondent | MH Data))."""
    data = care_of_address + correspondent + mh_data(msg)
    return hmac.new(kbm, data, hashlib.sha1).digest()[:AUTHENTICATOR_LENGTH]


def sign(msg: Signed, kbm: bytes, care_of_address: bytes, correspondent: bytes) -> Signed:
    """``msg`` with a Binding Authorization Data option appended last (replacing any earlier one)."""
    return _with_auth(msg, authenticator(kbm, care_of_address, correspondent, msg))


def verify(msg: Signed, kbm: bytes, care_of_address: bytes, correspondent: bytes) -> bool:
    """True if the last option of ``msg`` is a Binding Authorization Data option (RFC 6275 §9.5.1: MUST be last)
    with the right Authenticator (constant-time comparison)."""
    if not msg.options or not isinstance(msg.options[-1], BindingAuthorizationData):
        return False
    got = msg.options[-1].authenticator
    if len(got) != AUTHENTICATOR_LENGTH:
        return False
    return hmac.compare_digest(got, authenticator(kbm, care_of_address, correspondent, msg))
