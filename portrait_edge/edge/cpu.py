"""This CPU's theoretical fp32 peak, estimated from lscpu / /proc/cpuinfo.

    peak GFLOP/s = cores x GHz x FLOPs per cycle per core
    FLOPs/cycle  = fp32 SIMD lanes x 2 (FMA: multiply + add) x FMA pipes (2)
    lanes        = 16 with avx512f, 8 with avx2, 4 with SSE only
    AMD Zen 2-4 (family 0x17 / 0x19) execute a 512-bit op as two 256-bit halves: 8 lanes there.

The clock is `CPU max MHz` from lscpu when the hypervisor exposes it, otherwise the `cpu MHz` of
/proc/cpuinfo (the nominal clock; turbo is not counted). It is an estimate of the ceiling, not a
measurement: achieved GFLOP/s of a network is 2 x MACs / latency, reported against it.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any


def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _cpuinfo_mhz() -> float | None:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1])
    except OSError:
        pass
    return None


def cpu_peak() -> dict[str, Any]:
    fields = _lscpu()
    flags = set(fields.get("Flags", "").split())
    cores = int(fields.get("CPU(s)", os.cpu_count() or 1))
    mhz = None
    for key in ("CPU max MHz", "CPU MHz"):
        if fields.get(key):
            mhz = float(fields[key])
            break
    if mhz is None:
        mhz = _cpuinfo_mhz() or 0.0
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    vendor, family = fields.get("Vendor ID", ""), fields.get("CPU family", "")
    note = ""
    if lanes == 16 and vendor == "AuthenticAMD" and family in ("23", "25"):
        lanes, note = 8, "AMD Zen: 512-bit ops run as two 256-bit halves"
    fma = 2 if "fma" in flags else 1
    pipes = 2
    flops_per_cycle = lanes * fma * pipes
    peak = cores * mhz / 1000 * flops_per_cycle
    return {
        "model": fields.get("Model name", ""), "vendor": vendor, "cores": cores, "ghz": round(mhz / 1000, 3),
        "isa": sorted(f for f in flags if re.match(r"^(avx2|avx512f|avx512_vnni|avx512_bf16|fma|f16c)$", f)),
        "fp32_lanes": lanes, "fma": fma == 2, "fma_pipes": pipes, "flops_per_cycle_per_core": flops_per_cycle,
        "peak_gflops_fp32": round(peak, 1), "note": note,
        "formula": f"{cores} cores x {mhz / 1000:.2f} GHz x {flops_per_cycle} FLOP/cycle "
                   f"({lanes} fp32 lanes x {fma} (FMA) x {pipes} pipes)",
    }


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []
