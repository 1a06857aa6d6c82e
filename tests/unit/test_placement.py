"""Where a job trains: with several GPUs each job claims the least busy one (cifar_sweep/placement.py),
and a finished or killed job gives its claim back. The claim logic runs on GPU names, so it is tested
here on the CPU with a fake machine of two or three GPUs, in real processes holding real flocks."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from cifar_sweep import placement
from cifar_sweep.errors import UserError

CLAIMER = """
import sys, time
from pathlib import Path
from cifar_sweep.placement import gpu_claimed
with gpu_claimed(sys.argv[2].split(","), Path(sys.argv[1])) as gpu:
    print(gpu, flush=True)
    time.sleep(60)
"""


def claimer(folder, names: str) -> tuple[subprocess.Popen, int]:
    """A process that claims a GPU of `names` and holds it; (the process, the GPU it got)."""
    process = subprocess.Popen([sys.executable, "-c", CLAIMER, str(folder), names], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def test_jobs_spread_over_the_gpus_and_a_killed_job_gives_its_gpu_back(tmp_path):
    processes = []
    try:
        gpus = []
        for _ in range(5):  # five jobs on three GPUs: 0, 1, 2, then a second job on 0 and on 1
            process, gpu = claimer(tmp_path, "GPU-a,GPU-b,GPU-c")
            processes.append(process)
            gpus.append(gpu)
        assert gpus == [0, 1, 2, 0, 1]
        processes[1].kill()  # the job on GPU 1 dies: GPU 1 is the least busy, with GPU 2
        processes[1].wait()
        processes.append(claimer(tmp_path, "GPU-a,GPU-b,GPU-c")[0])
        with placement.gpu_claimed(["GPU-a", "GPU-b", "GPU-c"], tmp_path) as gpu:
            assert gpu == 2  # GPU 1 was taken again by the job before; GPU 2 holds one job, 0 and 1 two
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_a_finished_job_gives_its_gpu_back_to_the_next_job_of_its_process(tmp_path):
    other, gpu = claimer(tmp_path, "GPU-a,GPU-b")
    try:
        assert gpu == 0
        for _ in range(2):  # a basic launcher's jobs, one after another: each takes the free GPU 1
            with placement.gpu_claimed(["GPU-a", "GPU-b"], tmp_path) as mine:
                assert mine == 1
                assert placement._claim["users"] == 1
            assert placement._claim == {}
    finally:
        other.kill()
        other.wait()


def test_the_jobs_of_a_fused_group_share_the_process_claim(tmp_path):
    got: list[int] = []
    inside = threading.Barrier(3)

    def job() -> None:
        with placement.gpu_claimed(["GPU-a", "GPU-b"], tmp_path) as gpu:
            got.append(gpu)
            inside.wait(timeout=10)  # all three hold the claim at once

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == [0, 0, 0]
    assert placement._claim == {}
    other, gpu = claimer(tmp_path, "GPU-a,GPU-b")  # given back when the last of them ended
    other.kill()
    other.wait()
    assert gpu == 0


def test_gpu_names_are_the_visible_devices_where_torch_gives_no_uuid(monkeypatch):
    monkeypatch.setattr(placement.torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(placement.torch.cuda, "get_device_properties", lambda index: object())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert placement.gpu_names() == ["3", "5"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert placement.gpu_names() == ["0", "1"]


def test_a_claims_folder_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"CIFAR_SWEEP_GPU_CLAIMS='.*file/claims': cannot write the GPU claims there"):
        with placement.gpu_claimed(["GPU-a", "GPU-b"], tmp_path / "file" / "claims"):
            pass
    assert placement._claim == {}
