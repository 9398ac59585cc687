"""The CPU features every benchmark prints in its header: figures from machines with different
features are not comparable, only ratios from one run are. Also the share of the machine's
nominal peak that an mlkit run reached."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# `--hide`: smaller CPUs whose code paths a benchmark can time on this machine, as the
# features hide_cpu_features.c hides for each.
HIDDEN = {
    # AMD Zen 2 and 3, Intel before Alder Lake (and its Atom cores).
    "avx2": "avx512,avxvnni",
    # Intel client CPUs since Alder Lake: AVX2 with AVX-VNNI.
    "avx2-vnni": "avx512",
    # Intel Skylake-SP servers: AVX-512 without VNNI.
    "avx512-no-vnni": "avx512vnni,avxvnni",
}


def add_hide_argument(ap):
    ap.add_argument("--hide", choices=sorted(HIDDEN), help=(
        "time the code paths of a smaller CPU on this one, everything (mlkit, PyTorch, "
        "onnxruntime) seeing its features only: avx2 (AMD Zen 2/3), avx2-vnni (Intel since "
        "Alder Lake), avx512-no-vnni (Skylake-SP); needs Linux's CPUID faulting"))


def hide_features(args):
    """With `--hide`, runs this script again with the CPU's features hidden from it and its
    children (hide_cpu_features.c, built here with the C compiler); returns otherwise."""
    if not args.hide or os.environ.get("MLKIT_HIDE_CPU_FEATURES"):
        return
    lib = os.path.join(tempfile.mkdtemp(prefix="mlkit-hide-"), "hide_cpu_features.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", lib,
                    os.path.join(HERE, "hide_cpu_features.c")], check=True)
    env = dict(os.environ, LD_PRELOAD=lib, MLKIT_HIDE_CPU_FEATURES=HIDDEN[args.hide])
    if "avx512" in HIDDEN[args.hide].split(","):
        # glibc picks its string functions before the library loads.
        env["GLIBC_TUNABLES"] = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def add_repeat_argument(ap):
    ap.add_argument("--repeat", type=int, default=1, help=(
        "time each run this many times and report the median (timings on shared machines "
        "move by 10%% and more from one run to the next)"))


def median_time(repeat, run):
    """The median of `repeat` timings of `run()` in seconds, and what its last call returned."""
    times, out = [], None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def cpu_flags():
    """The features that decide the product kernels, as /proc/cpuinfo names them, less any
    that `--hide` hides."""
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    for name in filter(None, os.environ.get("MLKIT_HIDE_CPU_FEATURES", "").split(",")):
        if name == "avx512":
            flags = {f for f in flags if not f.startswith("avx512")}
        flags.discard({"avx512vnni": "avx512_vnni", "avxvnni": "avx_vnni"}.get(name))
    keep = ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8"]
    return [k for k in keep if k in flags]


def cpu_features():
    """`cpu_flags` for a header, saying what `--hide` hid."""
    said = " ".join(cpu_flags())
    hidden = os.environ.get("MLKIT_HIDE_CPU_FEATURES")
    if hidden:
        said += (f" (this CPU with {hidden} hidden from the processes: a smaller CPU's code "
                 "at this one's speed)")
    return said


def describe_binary(path):
    """The mlkit binary a benchmark times, for its header: the path and when it was built,
    with a warning where a source file is newer (a stale binary, e.g. an old `target/` when
    the build went to CARGO_TARGET_DIR, would time code that is no longer there)."""
    built = os.path.getmtime(path)
    root = os.path.dirname(HERE)
    newest = max((os.path.getmtime(os.path.join(d, f))
                  for top in ("crates", "vendor")
                  for d, _, files in os.walk(os.path.join(root, top))
                  for f in files if f.endswith((".rs", ".toml"))), default=0)
    said = f"{path} (built {time.strftime('%Y-%m-%d %H:%M', time.localtime(built))})"
    if newest > built:
        said += " -- WARNING: older than the sources; rebuild with `cargo build --release -p mlkit`"
    return said


# mlkit's int8 kernels (MLKIT_INT8_KERNEL) and the /proc/cpuinfo flag each needs: the
# benchmarks time every one the CPU has, so that one run compares them.
INT8_KERNELS = [("avx512vnni", "avx512_vnni"), ("avxvnni", "avx_vnni"), ("avx512bw", "avx512bw"),
                ("avx2", "avx2")]


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
    for kernel, macs in [("avx512vnni", 64), ("avxvnni", 32), ("avx512bw", 32), ("avx2", 16)]:
        if f"({kernel})" in run:
            return macs
    if "int8" in run:
        if "avx512_vnni" in features:
            return 64
        if "avx_vnni" in features or "avx512bw" in features:
            return 32
        if "avx2" in features:
            return 16
    return 16 if "avx512f" in features else 8


def share_of_peak(run, tokens_per_second, macs_per_token, threads):
    """Useful multiply-adds per second against a nominal peak: `threads` cores x two vector
    units x the multiply-adds an instruction does x the clock. A string such as '23%', or
    '' where the clock is unknown."""
    mhz = clock_mhz()
    if not mhz:
        return ""
    peak = threads * 2 * macs_per_instruction(run, cpu_flags()) * mhz * 1e6
    return f"{100 * tokens_per_second * macs_per_token / peak:.0f}%"
