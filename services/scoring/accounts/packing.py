"""An account's bytes, packed: how accounts.state is stored and how scoring keeps an account it
does not hold decoded (cache.py).

A packed blob is one version byte, the account's event time (8 bytes, so loading a million
accounts reads it without unpacking anything), then the JSON document compressed with
Zstandard against a preset dictionary. A state document's keys and wording repeat in every
account; the dictionary holds them once, so a typical document packs to a fraction of what
plain Zstandard makes of it (docs/performance.md, Memory).

The dictionary is structure only (this module's field names and health wording), never
anyone's data. A packed blob can only be read with the dictionary it was packed with: never
edit DICTIONARY_1; a new one is a new version byte, and unpack_document keeps reading the
old.
"""

from __future__ import annotations

import struct
import threading

import zstandard

from services.scoring.accounts.state import AccountState

VERSION_1 = 1
_HEADER = struct.Struct("<Bd")  # version, event time

DICTIONARY_1 = (
    b'{"profile":{"name":"","tier":1,"arr":0.0,"csm":{"name":"","email":"","slack":""},'
    b'"plan":{"name":"","period":"month","limits":{"api_calls":0.0,"seats":0.0,'
    b'"storage_gb":0.0}},"renewal_date":"","account_id":""},"now":0.0,"first_seen":0.0,'
    b'"usage":{},"gauges":{},"people":{"u:":{"user_id":"","email":"","last_seen":0.0,'
    b'"months":[""],"name":"","title":"","department":"","role":"champion",'
    b'"status":"active"},"e:":{"user_id":"","email":"","last_seen":0.0,"months":[]}},'
    b'"activity":[[0,0]],"features":{},"tickets":{},"csat":[],"seen":[],'
    b'"rules":{"plan_limit":{},"single_threaded":{"state":"inactive","since":0.0},'
    b'"health_red":{"state":"inactive","since":0.0},"active":{}},"recent_records":[],'
    b'"health":{"score":100,"band":"green","components":{"engagement":{"score":100,'
    b'"weight":30,"why":" engaged stakeholders in the last 30 days (3 or more wanted)"},'
    b'"activity":{"score":100,"weight":25,"why":"active on  of the last  days"},'
    b'"support":{"score":100,"weight":20,"why":" open tickets"},'
    b'"adoption":{"score":100,"weight":15,"why":" features used in the last 30 days"},'
    b'"usage_trend":{"score":null,"weight":10,"why":"less than two weeks of history"}}},'
    b'"health_stale":false}'
)


class _Codecs(threading.local):
    """Zstandard's (de)compressors are not safe to share between threads (the API may run
    in another thread than scoring): one pair per thread."""

    def __init__(self) -> None:
        dictionary = zstandard.ZstdCompressionDict(
            DICTIONARY_1, dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        self.compressor = zstandard.ZstdCompressor(level=1, dict_data=dictionary)
        self.decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)


_codecs = _Codecs()


def pack_document(now: float, document: bytes) -> bytes:
    return _HEADER.pack(VERSION_1, now) + _codecs.compressor.compress(document)


def unpack_document(blob: bytes) -> bytes:
    """The JSON document."""
    version = blob[0] if blob else None
    if version != VERSION_1:
        raise ValueError(f"unknown packed account version {version!r}")
    return _codecs.decompressor.decompress(memoryview(blob)[_HEADER.size :])


def pack_account(state: AccountState) -> bytes:
    """The account as stored and as kept when not decoded."""
    return pack_document(state.now, state.to_json())


def unpack_account(account_id: str, partition: int, blob: bytes) -> AccountState:
    return AccountState.from_json(account_id, partition, unpack_document(blob))


def packed_time(blob: bytes) -> float:
    """The event time, without unpacking."""
    return float(_HEADER.unpack_from(blob)[1])
