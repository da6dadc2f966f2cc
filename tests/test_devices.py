"""GPUs: which ones are visible, resolving [resources] gpus, and one evaluation per device at a time."""

import asyncio

import pytest

from evolve.evaluation.devices import DevicePool, gpus_per_evaluation, visible_gpus


def test_visible_gpus_follow_cuda_visible_devices(tmp_path):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,5"}) == ["2", "5"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    driver = tmp_path / "gpus"
    driver.mkdir()
    for bus in ("0000:01:00.0", "0000:41:00.0"):
        (driver / bus).mkdir()
    assert visible_gpus({}, driver=str(driver)) == ["0", "1"]


def test_gpus_setting_resolves_against_the_machine():
    assert gpus_per_evaluation("auto", []) == 0 and gpus_per_evaluation("auto", ["0", "1"]) == 1
    assert gpus_per_evaluation(0, []) == 0 and gpus_per_evaluation(2, ["0", "1"]) == 2
    with pytest.raises(ValueError, match="needs 1 GPU"):
        gpus_per_evaluation(1, [])


def test_one_device_serves_one_evaluation_at_a_time():
    pool = DevicePool(["7"], per_evaluation=1)
    events = []

    async def evaluation(name):
        async with pool.lease() as (gpus, device):
            events.append((name, "start", gpus, device))
            await asyncio.sleep(0.05)
            events.append((name, "end", gpus, device))

    async def both():
        await asyncio.gather(evaluation("a"), evaluation("b"))

    asyncio.run(both())
    assert [e[:2] for e in events] == [("a", "start"), ("a", "end"), ("b", "start"), ("b", "end")]
    assert all(e[2] == ("7",) and e[3] == "cuda:0" for e in events)


def test_two_devices_two_evaluations_at_once_each_its_own():
    pool = DevicePool(["0", "1"], per_evaluation=1)
    held = []

    async def evaluation():
        async with pool.lease() as (gpus, device):
            held.append((gpus, device))
            await asyncio.sleep(0.05)

    async def both():
        await asyncio.gather(evaluation(), evaluation())

    asyncio.run(both())
    assert sorted(held) == [(("0",), "cuda:0"), (("1",), "cuda:1")]


def test_no_gpus_needed_means_no_waiting_and_the_cpu():
    pool = DevicePool([], per_evaluation=0)

    async def one():
        async with pool.lease() as lease:
            return lease

    assert asyncio.run(one()) == ((), "cpu")
