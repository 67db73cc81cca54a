"""accounts.state packed (as services/scoring/accounts/packing.py packs it), with its health inside

Before, accounts.state was the state's plain JSON, remembering whole event ids, and its
health was read from accounts.health beside it; now it is one self-contained packed document
remembering 8-byte keys of the ids (state.signal_key), which scoring loads without the health
column.

Revision ID: 0004
Revises: 0003
"""

import struct
from collections.abc import Callable, Iterator
from hashlib import blake2b
from typing import Any

import orjson
import sqlalchemy as sa
import zstandard
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHUNK = 1000

# The packed format's version 1, as it was when this revision was written (a copy, so that
# this revision keeps its meaning whatever scoring's packing module becomes).
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
_DICTIONARY = zstandard.ZstdCompressionDict(DICTIONARY_1, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def pack(now: float, document: bytes) -> bytes:
    compressor = zstandard.ZstdCompressor(level=3, dict_data=_DICTIONARY)
    return _HEADER.pack(VERSION_1, now) + compressor.compress(document)


def unpack(blob: bytes) -> bytes:
    if not blob or blob[0] != VERSION_1:
        raise ValueError(f"unknown packed account version {blob[:1]!r}")
    decompressor = zstandard.ZstdDecompressor(dict_data=_DICTIONARY)
    return decompressor.decompress(memoryview(blob)[_HEADER.size :])


def signal_key(signal_id: str) -> int:
    """8 bytes of the id's BLAKE2b hash, as scoring remembers ids since this revision."""
    digest = blake2b(signal_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


_accounts = sa.table(
    "accounts",
    sa.column("account_id", sa.String),
    sa.column("state", sa.LargeBinary),
    sa.column("health", sa.Text),
)


def upgrade() -> None:
    _rewrite(lambda state, health: state[:1] == b"{", _packed)


def downgrade() -> None:
    _rewrite(lambda state, health: state[:1] != b"{", _plain)


def _packed(state: bytes, health: str) -> bytes:
    document = orjson.loads(state)
    stored = orjson.loads(health)
    document["health"] = {k: stored[k] for k in ("score", "band", "components")}
    document["seen"] = [signal_key(signal_id) for signal_id in document["seen"]]
    document["health_stale"] = False  # health was stored only once brought up to date
    return pack(document["now"], orjson.dumps(document))


def _plain(state: bytes, health: str) -> bytes:
    """The ids themselves cannot come back from their keys: a downgraded account forgets
    which events it has seen (a redelivery of one of them would count again)."""
    document = orjson.loads(unpack(state))
    for key in ("health", "health_stale", "indexes"):
        document.pop(key, None)
    document["seen"] = []
    return orjson.dumps(document)


def _rewrite(
    needed: Callable[[bytes, str], bool], rewritten: Callable[[bytes, str], bytes]
) -> None:
    bind = op.get_bind()
    statement = (
        sa.update(_accounts)
        .where(_accounts.c.account_id == sa.bindparam("id"))
        .values(state=sa.bindparam("new_state"))
    )
    for rows in _chunks(bind):
        changes = [
            {"id": account_id, "new_state": rewritten(state, health)}
            for account_id, state, health in rows
            if needed(state, health)
        ]
        if changes:
            bind.execute(statement, changes)


def _chunks(bind: Any) -> Iterator[list[Any]]:
    """Every account, a chunk at a time, in account_id order (keyset pagination)."""
    c, after = _accounts.c, ""
    while True:
        query = sa.select(c.account_id, c.state, c.health).where(c.account_id > after)
        rows = bind.execute(query.order_by(c.account_id).limit(CHUNK)).all()
        if not rows:
            return
        yield rows
        after = rows[-1].account_id
