/* An LD_PRELOAD library that hides CPU features from a process, so that a benchmark can
 * time the code paths of a smaller CPU on the machine at hand (benches/cpu.py's
 * `--hide`): MLKIT_HIDE_CPU_FEATURES lists what to hide, of
 *   avx512      every AVX-512 extension (VNNI and BF16 among them): an AVX2 machine
 *   avx512vnni  AVX-512 VNNI alone: an AVX-512 machine of before 2019 (Skylake-SP)
 *   avxvnni     AVX-VNNI (and AVX-512 BF16's sibling AVX-VNNI-INT8 is not touched)
 * e.g. "avx512,avxvnni" for the AVX2-only CPUs (AMD Zen 2 and 3, Intel before Alder Lake).
 *
 * It turns on Linux's CPUID faulting for the process (arch_prctl ARCH_SET_CPUID: kept by
 * threads, reset by exec, so children load this library again through LD_PRELOAD): every
 * `cpuid` instruction then raises SIGSEGV, and the handler runs the real `cpuid` with
 * faulting off for that instant, clears the hidden features' bits and steps over the
 * instruction. Whatever asks `cpuid` then takes its smaller paths: Rust's
 * is_x86_feature_detected, PyTorch's cpuinfo, onnxruntime's MLAS, numpy. glibc reads the
 * features before this library loads: GLIBC_TUNABLES hides them from it (cpu.py sets it).
 * The instructions still run at the real CPU's speed: figures from this are the smaller
 * code paths on a bigger core, not a smaller CPU's. Without CPUID faulting ("cpuid_fault"
 * in /proc/cpuinfo) the process stops at once with exit code 3. A program that installs
 * its own SIGSEGV handler takes the faults itself and crashes (rustc does: run a test
 * binary directly, not through cargo, as .ci/x86-kernels does). */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef ARCH_SET_CPUID
#define ARCH_SET_CPUID 0x1012
#endif

/* Leaf 7, sub-leaf 0. EBX: avx512f 16, dq 17, ifma 21, pf 26, er 27, cd 28, bw 30, vl 31. */
#define AVX512_EBX ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | \
                    (1u << 28) | (1u << 30) | (1u << 31))
/* ECX: vbmi 1, vbmi2 6, vnni 11, bitalg 12, vpopcntdq 14. */
#define AVX512_ECX ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
#define AVX512_VNNI_ECX (1u << 11)
/* EDX: 4vnniw 2, 4fmaps 3, vp2intersect 8, fp16 23. */
#define AVX512_EDX ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23))
/* Leaf 7, sub-leaf 1, EAX: avx-vnni 4, avx512-bf16 5. */
#define AVX_VNNI_EAX (1u << 4)
#define AVX512_BF16_EAX (1u << 5)

static unsigned hide_b, hide_c, hide_d, hide_sub1_a;

static void cpuid_faulting(int on) { syscall(SYS_arch_prctl, ARCH_SET_CPUID, on ? 0 : 1); }

static void on_segv(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    greg_t *regs = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)regs[REG_RIP];
    (void)info;
    if (ip[0] != 0x0f || ip[1] != 0xa2) {
        /* A real fault: let it happen again with the default action. */
        signal(sig, SIG_DFL);
        return;
    }
    unsigned leaf = (unsigned)regs[REG_RAX], sub = (unsigned)regs[REG_RCX];
    unsigned a, b, c, d;
    cpuid_faulting(0);
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(sub));
    cpuid_faulting(1);
    if (leaf == 7 && sub == 0) {
        b &= ~hide_b;
        c &= ~hide_c;
        d &= ~hide_d;
    } else if (leaf == 7 && sub == 1) {
        a &= ~hide_sub1_a;
    }
    regs[REG_RAX] = a;
    regs[REG_RBX] = b;
    regs[REG_RCX] = c;
    regs[REG_RDX] = d;
    regs[REG_RIP] += 2;
}

__attribute__((constructor)) static void hide_cpu_features(void) {
    const char *hide = getenv("MLKIT_HIDE_CPU_FEATURES");
    char list[256];
    snprintf(list, sizeof list, "%s", hide ? hide : "");
    for (char *save, *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        if (strcmp(name, "avx512") == 0) {
            hide_b |= AVX512_EBX;
            hide_c |= AVX512_ECX;
            hide_d |= AVX512_EDX;
            hide_sub1_a |= AVX512_BF16_EAX;
        } else if (strcmp(name, "avx512vnni") == 0) {
            hide_c |= AVX512_VNNI_ECX;
        } else if (strcmp(name, "avxvnni") == 0) {
            hide_sub1_a |= AVX_VNNI_EAX;
        } else {
            fprintf(stderr, "hide_cpu_features: unknown feature %s\n", name);
            _exit(3);
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        fprintf(stderr, "hide_cpu_features: this kernel or CPU has no CPUID faulting\n");
        _exit(3);
    }
}
