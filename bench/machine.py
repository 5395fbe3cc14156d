"""Machine facts recorded with every run, built from small collectors (as pyperf does)."""

from __future__ import annotations

import os
import platform
import re
import socket
from typing import Any

import torch

Facts = dict[str, Any]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_summary() -> Facts:
    """What pytest-benchmark's machine_info says of the CPU (its `cpu`), read from /proc/cpuinfo. pytest-benchmark
    asks py-cpuinfo, whose CPUID probe times a loop in a child process to measure the clock: 1.1 s at the end
    of every run, for fields no report reads (the CPU facts netbench reads are its own, below)."""
    return {"brand_raw": cpu_model(), "arch": platform.machine(), "count": os.cpu_count()}


def collect_host() -> Facts:
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def collect_cpu() -> Facts:
    return {"cpu_model": cpu_model(), "logical_cores": os.cpu_count() or 1}


def collect_threads() -> Facts:
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "mkl_num_threads_env": os.environ.get("MKL_NUM_THREADS"),
    }


def search(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text)
    return match.group(1).strip() if match else None


def collect_torch() -> Facts:
    config = torch.__config__.show()
    return {
        "torch_version": torch.__version__,
        "blas": search(r"BLAS_INFO=([^,\n]+)", config),
        "lapack": search(r"LAPACK_INFO=([^,\n]+)", config),
        "mkl": torch.backends.mkl.is_available(),
        "onednn": torch.backends.mkldnn.is_available(),
        "onednn_version": search(r"(?:MKL-DNN|oneDNN) (v[\d.]+)", config),
        "parallel_backend": search(r"ATen parallel backend: (\S+)", torch.__config__.parallel_info()),
    }


def collect_cuda() -> Facts:
    available = torch.cuda.is_available()
    gpus = [
        {
            "name": torch.cuda.get_device_name(i),
            "capability": ".".join(map(str, torch.cuda.get_device_capability(i))),
            "memory_bytes": torch.cuda.get_device_properties(i).total_memory,
        }
        for i in range(torch.cuda.device_count() if available else 0)
    ]
    return {
        "cuda_available": available,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if available else None,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "gpus": gpus,
    }


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def turbo() -> bool | None:
    """Whether the CPU may boost, where the kernel says (intel_pstate or acpi-cpufreq); None if it does not."""
    no_turbo = read_text("/sys/devices/system/cpu/intel_pstate/no_turbo")
    if no_turbo is not None:
        return no_turbo == "0"
    boost = read_text("/sys/devices/system/cpu/cpufreq/boost")
    return boost == "1" if boost is not None else None


def collect_noise() -> Facts:
    """What makes figures move: load from other work, frequency scaling. Recorded, never enforced."""
    return {
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "cpu_governor": read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "turbo": turbo(),
    }


COLLECTORS = (collect_host, collect_cpu, collect_threads, collect_torch, collect_cuda, collect_noise)


def machine_facts() -> Facts:
    facts: Facts = {}
    for collect in COLLECTORS:
        facts.update(collect())
    return facts
