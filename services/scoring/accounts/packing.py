"""An account's bytes, packed: how accounts.state is stored and how scoring keeps an account it
does not hold decoded (cache.py).

A packed blob is one version byte, the account's times (Times: its clock, its newest event
time and its start date, 8 bytes each, and whether days wait for the rules, so that loading a
million accounts finds those the tick and the watermark must visit without unpacking
anything), then the JSON document compressed with
Zstandard against a preset dictionary. A state document's keys and wording repeat in every
account; the dictionary holds them once, so a typical document packs to a fraction of what
plain Zstandard makes of it (docs/performance.md, Memory).

The dictionary is structure only (this module's field names and health wording), never
anyone's data. A packed blob can only be read with the dictionary it was packed with: never
edit DICTIONARY_1; a new one is a new version byte, and unpack_document keeps reading the
old. Version 1 blobs carry the clock alone in their header; version 2 (the same dictionary)
carries the three times.
"""

from __future__ import annotations

import struct
import threading
from typing import NamedTuple

import zstandard

from services.scoring.accounts.state import AccountState

VERSION_1 = 1
VERSION_2 = 2
_HEADER_1 = struct.Struct("<Bd")  # version, clock
_HEADER_2 = struct.Struct("<Bddd?")  # version, clock, newest event, start date, waiting
_HEADERS = {VERSION_1: _HEADER_1, VERSION_2: _HEADER_2}


class Times(NamedTuple):
    """What the tick needs to know of an account (accounts/ticking.py)."""

    now: float  # the account's clock
    newest: float  # its newest event time (the clock without the tick's moves)
    start: float  # its start_date's 00:00 UTC; 0.0 without one
    waiting: bool = False  # days wait for the rules (behind the watermark)


def times_of(state: AccountState) -> Times:
    return Times(state.now, state.newest, state.start_date_at, bool(state.waiting))


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


def pack_document(times: Times, document: bytes) -> bytes:
    return _HEADER_2.pack(VERSION_2, *times) + _codecs.compressor.compress(document)


def unpack_document(blob: bytes) -> bytes:
    """The JSON document."""
    header = _header(blob)
    return _codecs.decompressor.decompress(memoryview(blob)[header.size :])


def _header(blob: bytes) -> struct.Struct:
    version = blob[0] if blob else None
    header = _HEADERS.get(version)  # type: ignore[arg-type]
    if header is None:
        raise ValueError(f"unknown packed account version {version!r}")
    return header


def pack_account(state: AccountState) -> bytes:
    """The account as stored and as kept when not decoded."""
    return pack_document(times_of(state), state.to_json())


def unpack_account(account_id: str, partition: int, blob: bytes) -> AccountState:
    return AccountState.from_json(account_id, partition, unpack_document(blob))


def packed_time(blob: bytes) -> float:
    """The account's clock, without unpacking."""
    return float(_header(blob).unpack_from(blob)[1])


def packed_times(blob: bytes) -> Times | None:
    """The account's times, without unpacking; None for a version 1 blob (the clock alone)."""
    if _header(blob) is _HEADER_1:
        return None
    return Times(*_HEADER_2.unpack_from(blob)[1:])
