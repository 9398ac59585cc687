"""The CPU features every benchmark prints in its header: figures from machines with different
features are not comparable, only ratios from one run are."""


def cpu_features():
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    keep = ["avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"]
    return " ".join(k for k in keep if k in flags)


# mlkit's int8 kernels (MLKIT_INT8_KERNEL) and the /proc/cpuinfo flag each needs: the
# benchmarks time every one the CPU has, so that one run compares them.
INT8_KERNELS = [("avx512vnni", "avx512_vnni"), ("avxvnni", "avx_vnni"), ("avx2", "avx2")]
