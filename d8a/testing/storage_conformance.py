"""Reusable pytest suites that every KV and Set state store must pass.

Subclass a suite in a test module (its name starting with ``Test``) and provide
the factory fixture it names. A factory opens the *same* store each time it
is called, initially empty for each test, so that a suite can close a store
and open it again::

    class TestMyKV(KVConformance):
        @pytest.fixture
        def make_kv(self, tmp_path):
            return lambda: MyKV(tmp_path / "state.db")

Durability checks run only for stores whose ``durable`` is True; nothing else
is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from d8a.storage.base import KV, Set

__all__ = ["KVConformance", "SetConformance"]

# Keys that sort differently by UTF-16, by bytes and by code points, or that
# are prefixes of one another, including through a NUL.
_KEYS = ["", "a", "a\x00", "a\x00b", "a:1", "a:2", "ab", "b", "é", "\uffff", "\U0001f600"]


class KVConformance:
    """The ``KV`` contract. Provide a ``make_kv`` fixture: ``() -> KV``."""

    @pytest.fixture
    def kv(self, make_kv: Callable[[], KV]) -> Iterator[KV]:
        store = make_kv()
        yield store
        store.close()

    def test_set_get_overwrite(self, kv: KV) -> None:
        assert kv.get("k") is None
        kv.set("k", b"one")
        assert kv.get("k") == b"one"
        kv.set("k", b"two")
        assert kv.get("k") == b"two"

    def test_empty_and_binary_values(self, kv: KV) -> None:
        kv.set("empty", b"")
        kv.set("binary", bytes(range(256)))
        assert kv.get("empty") == b""
        assert kv.get("binary") == bytes(range(256))

    def test_delete(self, kv: KV) -> None:
        kv.set("k", b"v")
        for key in ["k", "k", "never-set"]:
            kv.delete(key)
        assert kv.get("k") is None

    def test_scan_is_in_key_order(self, kv: KV) -> None:
        for key in reversed(_KEYS):
            kv.set(key, key.encode())
        assert list(kv.scan()) == [(key, key.encode()) for key in sorted(_KEYS)]

    def test_scan_prefix(self, kv: KV) -> None:
        for key in _KEYS:
            kv.set(key, b"v")
        for prefix in ["a", "a\x00", "a:", "b", "c", "\uffff", "\U0010ffff"]:
            expected = sorted(key for key in _KEYS if key.startswith(prefix))
            assert [key for key, _ in kv.scan(prefix)] == expected, prefix

    def test_scan_prefix_of_highest_code_point(self, kv: KV) -> None:
        kv.set("z", b"1")
        kv.set("z\U0010ffff", b"2")
        kv.set("z\U0010ffff\U0010ffff", b"3")
        assert [k for k, _ in kv.scan("z\U0010ffff")] == ["z\U0010ffff", "z\U0010ffff\U0010ffff"]

    def test_set_many_delete_many(self, kv: KV) -> None:
        items = {f"k{i:05d}": str(i).encode() for i in range(1500)}
        kv.set("k00000", b"old")
        kv.set_many(items)
        assert list(kv.scan("k")) == sorted(items.items())
        kv.delete_many(key for key in items if key != "k00007")
        kv.delete_many([])
        assert list(kv.scan()) == [("k00007", b"7")]

    def test_reads_see_uncommitted_writes(self, kv: KV) -> None:
        kv.set("k", b"v")
        kv.set_many({"m": b"w"})
        assert kv.get("k") == b"v"
        assert list(kv.scan()) == [("k", b"v"), ("m", b"w")]

    def test_commit_then_reopen(self, make_kv: Callable[[], KV]) -> None:
        store = make_kv()
        store.set_many({"a": b"1", "b": b"2", "c": b"3"})
        store.delete("b")
        store.commit()
        store.close()
        store.close()  # idempotent
        if not store.durable:
            return
        with make_kv() as reopened:
            assert list(reopened.scan()) == [("a", b"1"), ("c", b"3")]

    def test_close_commits(self, make_kv: Callable[[], KV]) -> None:
        with make_kv() as store:
            store.set("k", b"v")
        if store.durable:
            with make_kv() as reopened:
                assert reopened.get("k") == b"v"


class SetConformance:
    """The ``Set`` contract. Provide a ``make_set`` fixture: ``() -> Set``."""

    @pytest.fixture
    def store(self, make_set: Callable[[], Set]) -> Iterator[Set]:
        store = make_set()
        yield store
        store.close()

    def test_members_of_missing_set(self, store: Set) -> None:
        assert store.members("missing") == []
        assert list(store.keys()) == []

    def test_add_is_idempotent(self, store: Set) -> None:
        store.add("s", b"x")
        store.add("s", b"y")
        store.add("s", b"x")
        store.add("s", b"")
        assert sorted(store.members("s")) == [b"", b"x", b"y"]

    def test_remove(self, store: Set) -> None:
        store.add_many([("s", b"x"), ("s", b"y")])
        for key, member in [("s", b"x"), ("s", b"x"), ("s", b"never"), ("missing", b"x")]:
            store.remove(key, member)
        assert store.members("s") == [b"y"]
        store.remove("s", b"y")
        assert store.members("s") == []
        assert list(store.keys()) == []

    def test_drop(self, store: Set) -> None:
        store.add_many([("s", b"x"), ("s", b"y"), ("t", b"x")])
        store.drop("s")
        store.drop("missing")
        assert store.members("s") == []
        assert store.members("t") == [b"x"]

    def test_keys_order_and_prefix(self, store: Set) -> None:
        for key in reversed(_KEYS):
            store.add(key, key.encode())
        assert list(store.keys()) == sorted(_KEYS)
        for prefix in ["a", "a\x00", "a:", "b", "c", "\U0010ffff"]:
            expected = sorted(key for key in _KEYS if key.startswith(prefix))
            assert list(store.keys(prefix)) == expected, prefix

    def test_keys_that_prefix_each_other_are_separate_sets(self, store: Set) -> None:
        store.add_many([("a", b"1"), ("a\x00", b"2"), ("a\x00b", b"3"), ("ab", b"4")])
        assert store.members("a") == [b"1"]
        assert store.members("a\x00") == [b"2"]
        store.drop("a")
        assert list(store.keys()) == ["a\x00", "a\x00b", "ab"]
        assert store.members("a\x00b") == [b"3"]

    def test_add_many(self, store: Set) -> None:
        items = [(f"s{i % 7}", str(i % 500).encode()) for i in range(2000)]
        store.add_many(items)
        store.add_many([])
        for key in {key for key, _ in items}:
            expected = sorted({m for k, m in items if k == key})
            assert sorted(store.members(key)) == expected
        assert list(store.keys("s")) == [f"s{i}" for i in range(7)]

    def test_replace(self, store: Set) -> None:
        store.add_many([("s", b"x"), ("s", b"y"), ("t", b"z")])
        store.replace("s", [b"y", b"w", b"w"])
        assert sorted(store.members("s")) == [b"w", b"y"]
        store.replace("s", [])
        assert store.members("s") == []
        assert list(store.keys()) == ["t"]
        store.replace("new", iter([b"n"]))
        assert store.members("new") == [b"n"]

    def test_reads_see_uncommitted_writes(self, store: Set) -> None:
        store.add("s", b"x")
        store.add_many([("s", b"y")])
        assert sorted(store.members("s")) == [b"x", b"y"]
        assert list(store.keys()) == ["s"]

    def test_commit_then_reopen(self, make_set: Callable[[], Set]) -> None:
        store = make_set()
        store.add_many([("s", b"x"), ("s", b"y"), ("t", b"z")])
        store.remove("s", b"y")
        store.commit()
        store.close()
        store.close()  # idempotent
        if not store.durable:
            return
        with make_set() as reopened:
            assert reopened.members("s") == [b"x"]
            assert list(reopened.keys()) == ["s", "t"]

    def test_close_commits(self, make_set: Callable[[], Set]) -> None:
        with make_set() as store:
            store.add("s", b"x")
        if store.durable:
            with make_set() as reopened:
                assert reopened.members("s") == [b"x"]
