"""A quick check of the benchmark harness (the benchmarks themselves are too slow for the
suite: `python -m benchmarks.run`)."""

from __future__ import annotations

import time

from benchmarks.harness import Samples, client, latency_proxy, moto_server, proxy_requests
from benchmarks.run import QUICK, render


def test_the_latency_proxy_delays_and_counts_every_request_to_moto():
    with moto_server() as endpoint, latency_proxy(endpoint, 0.2) as proxied:
        ec2 = client(proxied, "ec2")
        started = time.perf_counter()
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
        assert time.perf_counter() - started >= 0.2
        direct = client(endpoint, "ec2").describe_volumes()["Volumes"]
        assert [v["VolumeId"] for v in direct] == [volume]  # it reached the same moto
        assert proxy_requests(proxied) == 1


def test_the_report_states_ratios_and_whether_each_target_was_met():
    def samples(name: str, *seconds: float) -> Samples:
        return Samples(name, list(seconds))

    results = {
        "volumes": {
            "samples": {
                "floor": samples("floor", 1.0, 1.0, 1.0),
                "reclaim": samples("reclaim", 1.3, 1.3, 1.4),
                "custodian": samples("custodian", 3.0, 3.0, 3.0),
            },
            "counts": {"reclaim": 20, "custodian": 20},
        },
        "startup": {
            "samples": {"reclaim": samples("reclaim", 0.2), "custodian": samples("c", 0.5)}
        },
    }
    report = render(results, 3, None, QUICK)
    assert "| 1.30x | <= 1.2x | **missed** |" in report
    assert "| 0.40x | <= 0.5x | met |" in report
    assert "pending" in report  # scenario 2 is never silently dropped
