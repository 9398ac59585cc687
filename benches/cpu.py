"""The CPU features every benchmark prints in its header: figures from machines with different
features are not comparable, only ratios from one run are. Also the share of the machine's
nominal peak that an mlkit run reached."""
import json


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


def clock_mhz():
    """The clock /proc/cpuinfo gives for the first core (the VM's base clock on some
    machines: turbo runs higher, so shares come out high), or None."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1])
    return None


def linear_macs_per_token(config_path):
    """Multiply-adds per token in a BERT-style encoder's Linear layers (Q, K, V, the
    attention output and the two feed-forward layers of every layer), from its config.json:
    the bulk of the work on short inputs; attention's own products are left out."""
    with open(config_path) as f:
        c = json.load(f)
    h, i = c["hidden_size"], c["intermediate_size"]
    return c["num_hidden_layers"] * (4 * h * h + 2 * h * i)


def macs_per_instruction(run, features):
    """The multiply-adds one vector instruction does in the product an mlkit run used, as
    benches/int8_matmul.rs counts them: int8 by the kernel named in the run (or the one
    mlkit picks), else f32 FMA."""
    for kernel, macs in [("avx512vnni", 64), ("avxvnni", 32), ("avx2", 16)]:
        if f"({kernel})" in run:
            return macs
    if "int8" in run:
        if "avx512_vnni" in features:
            return 64
        if "avx_vnni" in features:
            return 32
    return 16 if "avx512f" in features else 8


def share_of_peak(run, tokens_per_second, macs_per_token, threads):
    """Useful multiply-adds per second against a nominal peak: `threads` cores x two vector
    units x the multiply-adds an instruction does x the clock. A string such as '23%', or
    '' where the clock is unknown."""
    mhz = clock_mhz()
    if not mhz:
        return ""
    peak = threads * 2 * macs_per_instruction(run, cpu_features().split()) * mhz * 1e6
    return f"{100 * tokens_per_second * macs_per_token / peak:.0f}%"
