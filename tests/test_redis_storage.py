"""The state store conformance suites on Redis (a real server), and Redis specifics."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from d8a._redis import Fence, LeaseLostError
from d8a.errors import ConfigurationError, MissingDependencyError, TransientError
from d8a.storage.base import KV, Set
from d8a.storage.redis import RedisKV, RedisSet
from d8a.testing.storage_conformance import KVConformance, SetConformance


class TestRedisKV(KVConformance):
    @pytest.fixture
    def make_kv(self, redis_url: str) -> Callable[[], KV]:
        return lambda: RedisKV(redis_url, namespace="test")


class TestRedisSet(SetConformance):
    @pytest.fixture
    def make_set(self, redis_url: str) -> Callable[[], Set]:
        return lambda: RedisSet(redis_url, namespace="test")


def held_fence(url: str) -> Fence:
    """A fence on a lease that this test holds."""
    import redis

    client = redis.Redis.from_url(url)
    client.set("lease", b"me")
    return Fence(client, "lease", "me")


class TestFencedRedisKV(KVConformance):
    @pytest.fixture
    def make_kv(self, redis_url: str) -> Callable[[], KV]:
        fence = held_fence(redis_url)
        return lambda: RedisKV(redis_url, namespace="test", fence=fence)


class TestFencedRedisSet(SetConformance):
    @pytest.fixture
    def make_set(self, redis_url: str) -> Callable[[], Set]:
        fence = held_fence(redis_url)
        return lambda: RedisSet(redis_url, namespace="test", fence=fence)


def test_fenced_writes_stop_when_the_lease_is_another_workers(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set("lease", b"me")
    fence = Fence(client, "lease", "me")
    with RedisKV(client, "f", fence=fence) as kv, RedisSet(client, "f", fence=fence) as hits:
        kv.set_many({f"k{n}": b"v" for n in range(5000)})  # more than one Lua unpack
        hits.add_many((f"s{n % 3}", str(n).encode()) for n in range(5000))
        assert len(list(kv.scan())) == 5000
        assert sum(len(hits.members(f"s{n}")) for n in range(3)) == 5000
        client.set("lease", b"someone else")
        writes: list[Callable[[], None]] = [
            lambda: kv.set("k", b"late"),
            lambda: kv.delete("k1"),
            lambda: hits.add("s0", b"late"),
            lambda: hits.drop("s1"),
            lambda: hits.replace("s2", [b"x"]),
            lambda: hits.remove("s0", b"1"),
        ]
        for write in writes:
            with pytest.raises(LeaseLostError, match="no longer me's"):
                write()
        assert kv.get("k") is None and kv.get("k1") == b"v"  # nothing changed
        assert len(hits.members("s1")) == 1667 and b"late" not in hits.members("s0")
        client.delete("lease")  # expired: nobody's
        with pytest.raises(LeaseLostError):
            kv.set("k", b"late")
        assert isinstance(LeaseLostError("x"), TransientError)
    client.close()


def test_namespaces_are_separate(redis_url: str) -> None:
    with RedisKV(redis_url, "a") as a, RedisKV(redis_url, "b") as b:
        a.set("k", b"1")
        assert b.get("k") is None
        assert list(b.scan()) == []
    with RedisSet(redis_url, "a") as sa, RedisSet(redis_url, "b") as sb:
        sa.add("k", b"1")
        assert sb.members("k") == []
        assert list(sb.keys()) == []


def test_two_processes_share_state(redis_url: str) -> None:
    code = (
        "import sys\nfrom d8a.storage.redis import RedisKV, RedisSet\n"
        "with RedisKV(sys.argv[1], 'shared') as kv, RedisSet(sys.argv[1], 'shared') as s:\n"
        "    kv.set('from-child', b'x'); s.add('k', b'child')\n"
    )
    subprocess.run([sys.executable, "-c", code, redis_url], check=True)
    with RedisKV(redis_url, "shared") as kv, RedisSet(redis_url, "shared") as members:
        assert kv.get("from-child") == b"x"
        assert members.members("k") == [b"child"]


def test_a_client_passed_in_is_not_closed(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    with RedisKV(client) as kv:
        kv.set("k", b"v")
    assert client.ping()
    with pytest.raises(ValueError, match="closed"):
        kv.get("k")
    client.close()


def test_unreachable_server_is_transient() -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with RedisKV(f"redis://127.0.0.1:{port}/0") as kv, pytest.raises(TransientError):
        kv.get("k")


def test_not_a_redis_url() -> None:
    with pytest.raises(ConfigurationError, match="not a Redis URL"):
        RedisKV("sqlite:///state.db")


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    with pytest.raises(MissingDependencyError, match=r"d8a\[redis\]"):
        RedisKV("redis://127.0.0.1:1/0")


def test_a_fenced_kv_reads_what_it_knows_from_its_cache(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    import d8a.storage.redis as module

    monkeypatch.setattr(module, "CACHE_KEYS", 3)
    client = redis.Redis.from_url(redis_url)

    def reads() -> int:
        stats = client.info("commandstats").get("cmdstat_hget", {})
        return int(stats.get("calls", 0))

    kv = RedisKV(redis_url, "cached", fence=held_fence(redis_url))
    kv.set("a", b"1")
    kv.delete("b")
    before = reads()
    assert kv.get("a") == b"1" and kv.get("b") is None  # written, deleted: known
    assert reads() == before
    assert kv.get("c") is None  # unknown: asked once, then known
    assert kv.get("c") is None
    assert reads() == before + 1
    for key in ("d", "e", "f"):
        kv.set(key, b"x")  # the cache keeps the newest 3 keys
    assert kv.get("a") == b"1"  # forgotten: asked again
    assert reads() == before + 2
    unfenced = RedisKV(redis_url, "cached")
    assert unfenced.get("d") == b"x" and reads() == before + 3  # no cache without a fence
    kv.close()
    unfenced.close()
    client.close()
