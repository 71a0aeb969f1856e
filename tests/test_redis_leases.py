"""Partition leases on a real Redis server: fair shares, joins and leaves, crashes,
and never two owners of one partition at once."""

from __future__ import annotations

import itertools
import time

import pytest

from d8a.errors import ConfigurationError
from d8a.scaleout.leases import PartitionLeases

PARTITIONS = 8


def _leases(url: str, worker: str, ttl: float = 5.0) -> PartitionLeases:
    return PartitionLeases(url, PARTITIONS, ttl=ttl, worker_id=worker)


def _check_disjoint(workers: list[PartitionLeases]) -> None:
    for a, b in itertools.combinations(workers, 2):
        assert not set(a.owned()) & set(b.owned()), (a.worker_id, b.worker_id)


def _settle(workers: list[PartitionLeases], rounds: int = 4) -> None:
    for _ in range(rounds):
        for worker in workers:
            worker.rebalance()
            _check_disjoint(workers)


def test_workers_share_fairly_and_exclusively(redis_url: str) -> None:
    a, b, c = (_leases(redis_url, name) for name in "abc")
    a.rebalance()
    assert a.owned() == list(range(PARTITIONS))  # alone, it takes everything
    _settle([a, b, c])
    owned = [a.owned(), b.owned(), c.owned()]
    assert sorted(p for share in owned for p in share) == list(range(PARTITIONS))
    assert sorted(len(share) for share in owned) == [2, 3, 3]
    for worker in (a, b, c):
        worker.leave()
        worker.close()


def test_a_leaving_worker_hands_over_at_once(redis_url: str) -> None:
    a, b = _leases(redis_url, "a", ttl=30), _leases(redis_url, "b", ttl=30)
    _settle([a, b])
    assert len(a.owned()) == len(b.owned()) == PARTITIONS // 2
    calls: list[list[int]] = []
    a.leave()
    assert a.owned() == []
    b.rebalance(before_giving_up=calls.append)
    assert b.owned() == list(range(PARTITIONS)) and calls == []


def test_a_crashed_workers_partitions_wait_for_its_leases_to_expire(redis_url: str) -> None:
    ttl = 0.4
    a, b, c = (_leases(redis_url, name, ttl) for name in "abc")
    _settle([a, b, c])
    crashed = c.owned()
    assert crashed
    started = time.monotonic()
    # c stops renewing. Until its leases expire nobody else may take its partitions,
    # and c itself stops counting on them no later than the server expires them:
    # c's owned() and theirs never overlap.
    while time.monotonic() - started < 3 * ttl:
        for worker in (a, b):
            worker.rebalance()
            _check_disjoint([a, b, c])  # c's own view included
        time.sleep(ttl / 8)
    assert c.owned() == []
    assert sorted(a.owned() + b.owned()) == list(range(PARTITIONS))


def test_a_joining_worker_gets_its_share_from_the_others(redis_url: str) -> None:
    a, b = _leases(redis_url, "a"), _leases(redis_url, "b")
    _settle([a, b])
    given_up: list[int] = []
    c = _leases(redis_url, "c")
    c.rebalance()  # registers, but everything is leased still
    assert c.owned() == []
    a.rebalance(before_giving_up=given_up.extend)
    b.rebalance(before_giving_up=given_up.extend)
    _check_disjoint([a, b, c])
    c.rebalance()
    assert c.owned() and set(c.owned()) <= set(given_up)
    _settle([a, b, c])
    assert sorted(a.owned() + b.owned() + c.owned()) == list(range(PARTITIONS))


def test_a_lease_taken_by_another_is_reported_lost(redis_url: str) -> None:
    import redis

    a = _leases(redis_url, "a", ttl=0.2)
    a.rebalance()
    client = redis.Redis.from_url(redis_url)
    client.set("d8a:queue:hits:lease:3", b"intruder", px=10_000)  # as if a expired meanwhile
    result = a.rebalance()
    assert 3 in result.lost and 3 not in a.owned()
    client.close()


def test_settings_are_validated(redis_url: str) -> None:
    with pytest.raises(ConfigurationError):
        PartitionLeases(redis_url, 0)
    with pytest.raises(ConfigurationError):
        PartitionLeases(redis_url, 4, ttl=0)
