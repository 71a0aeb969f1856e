"""The state store conformance suites on the memory and SQLite backends, and SQLite specifics."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d8a.errors import ConfigurationError
from d8a.storage import KV, MemoryKV, MemorySet, Set, SQLiteKV, SQLiteSet
from d8a.testing.storage_conformance import KVConformance, SetConformance


class TestMemoryKV(KVConformance):
    @pytest.fixture
    def make_kv(self) -> Callable[[], KV]:
        return MemoryKV


class TestMemorySet(SetConformance):
    @pytest.fixture
    def make_set(self) -> Callable[[], Set]:
        return MemorySet


class TestSQLiteKV(KVConformance):
    @pytest.fixture
    def make_kv(self, tmp_path: Path) -> Callable[[], KV]:
        return lambda: SQLiteKV(tmp_path / "state.db")


class TestSQLiteSet(SetConformance):
    @pytest.fixture
    def make_set(self, tmp_path: Path) -> Callable[[], Set]:
        return lambda: SQLiteSet(tmp_path / "state.db")


def _raw_values(path: Path, table: str) -> list[bytes]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute(f'SELECT value FROM "{table}"')]


def test_sqlite_values_are_cbor_not_pickle(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SQLiteKV(path) as kv, SQLiteSet(path) as members:
        kv.set("k", b"value")
        kv.set_many({"m": b"many"})
        members.add("s", b"member")
        members.add_many([("s", b"other")])
    for table, expected in [("kv", {b"value", b"many"}), ("set", {b"member", b"other"})]:
        raw = _raw_values(path, table)
        # A pickle starts with the PROTO opcode 0x80; CBOR byte strings with 0x40-0x5b.
        assert all(not blob.startswith(b"\x80") for blob in raw)
        assert {cbor2.loads(blob) for blob in raw} == expected


def test_kv_and_set_share_one_file(tmp_path: Path) -> None:
    # Uncommitted writes through both stores must not wait on each other's lock.
    path = tmp_path / "state.db"
    kv, members = SQLiteKV(path), SQLiteSet(path)
    for i in range(3):
        kv.set(f"k{i}", b"v")
        members.add(f"s{i}", b"m")
    kv.commit()
    kv.close()
    members.close()
    with SQLiteKV(str(path)) as kv, SQLiteSet(path) as members:
        assert [k for k, _ in kv.scan()] == ["k0", "k1", "k2"]
        assert list(members.keys()) == ["s0", "s1", "s2"]


def test_uncommitted_writes_are_lost_when_not_closed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    kv = SQLiteKV(path)
    kv.set("kept", b"1")
    kv.commit()
    kv.set("lost", b"2")
    kv._dict.close(force=True)  # as if the process died
    with SQLiteKV(path) as reopened:
        assert [k for k, _ in reopened.scan()] == ["kept"]


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with SQLiteKV(tmp_path / "state.db") as kv:
        assert kv._conn.select_one("PRAGMA journal_mode") == ("wal",)
        assert kv._conn.select_one("PRAGMA synchronous") == (1,)  # NORMAL


@pytest.mark.parametrize("table", ["", "a-b", 'x"; DROP TABLE kv; --', "é"])
def test_table_names_are_validated(tmp_path: Path, table: str) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteKV(tmp_path / "state.db", table)
    with pytest.raises(ConfigurationError):
        SQLiteSet(tmp_path / "state.db", table)


def test_closed_store_raises(tmp_path: Path) -> None:
    kv = SQLiteKV(tmp_path / "state.db")
    kv.close()
    with pytest.raises(ValueError, match="closed"):
        kv.get("k")


# Set semantics against a Python model: dict of sets.

_keys = st.text(alphabet="ab\x00é", max_size=3)
_members = st.binary(max_size=2)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _keys, _members),
        st.tuples(st.just("add_many"), st.lists(st.tuples(_keys, _members), max_size=4)),
        st.tuples(st.just("remove"), _keys, _members),
        st.tuples(st.just("drop"), _keys),
        st.tuples(st.just("replace"), _keys, st.lists(_members, max_size=3)),
        st.tuples(st.just("reopen")),
    ),
    max_size=25,
)


def _check_set_model(make: Callable[[], Set], ops: list[tuple[object, ...]], prefix: str) -> None:
    model: dict[str, set[bytes]] = {}
    store = make()
    try:
        for op in ops:
            match op:
                case ("add", str() as key, bytes() as member):
                    store.add(key, member)
                    model.setdefault(key, set()).add(member)
                case ("add_many", list() as pairs):
                    store.add_many(pairs)
                    for key, member in pairs:
                        model.setdefault(key, set()).add(member)
                case ("remove", str() as key, bytes() as member):
                    store.remove(key, member)
                    model.get(key, set()).discard(member)
                case ("drop", str() as key):
                    store.drop(key)
                    model.pop(key, None)
                case ("replace", str() as key, list() as new):
                    store.replace(key, new)
                    model[key] = set(new)
                case ("reopen",) if store.durable:
                    store.close()
                    store = make()
            model = {key: members for key, members in model.items() if members}
            for key, members in model.items():
                assert sorted(store.members(key)) == sorted(members)
        assert list(store.keys()) == sorted(model)
        assert list(store.keys(prefix)) == sorted(k for k in model if k.startswith(prefix))
    finally:
        store.close()


@settings(max_examples=60, deadline=None)
@given(ops=_ops, prefix=_keys)
def test_memory_set_matches_model(ops: list[tuple[object, ...]], prefix: str) -> None:
    _check_set_model(MemorySet, ops, prefix)


@settings(max_examples=60, deadline=None)
@given(ops=_ops, prefix=_keys)
def test_sqlite_set_matches_model(ops: list[tuple[object, ...]], prefix: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        _check_set_model(lambda: SQLiteSet(Path(directory) / "state.db"), ops, prefix)
