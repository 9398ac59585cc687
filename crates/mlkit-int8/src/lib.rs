//! A matrix product with int8 weights and int8 activations, for Q8_0 Linear layers: on CPUs
//! with AVX-512 VNNI (one instruction does 64 8-bit multiply-adds, four times the f32 rate),
//! AVX-VNNI, AVX2, aarch64's matrix or dot products or plain NEON (`Kernel`), chosen at run time;
//! every kernel gives the scalar reference's numbers bit for bit, the bias added as they
//! store the result.
//!
//! The weights keep their GGUF Q8_0 values and block scales exactly (32 values share a
//! scale along a row). The activations are quantized the same way, in blocks of 32 with a
//! symmetric scale each, as ggml's Q8_0 product does (one scale per row, as onnxruntime's
//! dynamic quantization has it, cost all-MiniLM-L6-v2 a cosine of 0.990 to f32; blocks keep
//! the few large hidden dimensions from flattening the rest). VNNI multiplies unsigned by
//! signed bytes, so activations are stored offset by 128 and the offset's share is taken
//! back per block. Per block: an exact i32 sum, then one f32 multiply-add with the product
//! of the two blocks' scales.

/// What is wrong with a weight handed to `Int8Matmul::from_q8_0`.
#[derive(Debug, thiserror::Error)]
pub enum Int8Error {
    #[error("an int8 Linear needs rows of whole Q8_0 blocks of 32, not width {0}")]
    Width(usize),
    #[error("an int8 Linear with {n} outputs got a bias of {got} values")]
    Bias { n: usize, got: usize },
    #[error("a Q8_0 ({n}, {k}) weight has {got} bytes, not {want}")]
    Size {
        n: usize,
        k: usize,
        got: usize,
        want: usize,
    },
}

use std::mem::MaybeUninit;

/// Output columns per vector: 16 i32 lanes.
const LANES: usize = 16;
/// Values per Q8_0 block.
const BLOCK: usize = 32;
/// Bytes per Q8_0 block: an f16 scale and 32 i8 values.
const BLOCK_BYTES: usize = 34;

/// Where weight `kk` of output column `g * 16 + lane` lies in `Int8Matmul::packed`, for
/// inner size `k`: groups of 16 columns, in them steps of 4 consecutive k, in them 16
/// columns x 4 bytes (the operand order of `vpdpbusd`).
fn packed_index(k: usize, g: usize, kk: usize, lane: usize) -> usize {
    ((g * (k / 4) + kk / 4) * LANES + lane) * 4 + kk % 4
}

/// Where weight `kk` of output column `g * 16 + lane` lies in `Int8Matmul::packed_wide`:
/// groups of 16 columns, in them steps of 2 consecutive k, in them 16 columns x 2 values (the
/// operand order of `vpmaddwd`, which multiplies pairs of i16s and adds each pair).
#[cfg(target_arch = "x86_64")]
fn wide_index(k: usize, g: usize, kk: usize, lane: usize) -> usize {
    ((g * (k / 2) + kk / 2) * LANES + lane) * 2 + kk % 2
}

/// Where weight `kk` of output column `g * 16 + lane` lies in the i8mm packing: groups of 16
/// columns, in them steps of 8 consecutive k, in them 8 column pairs x (the pair's first
/// column's 8 weights, then its second's): the operand order of `smmla`, whose second
/// operand is a 2 x 8 matrix of two columns' weights.
#[cfg(target_arch = "aarch64")]
fn mmla_index(k: usize, g: usize, kk: usize, lane: usize) -> usize {
    ((g * (k / 8) + kk / 8) * 8 + lane / 2) * 16 + (lane % 2) * 8 + kk % 8
}

/// Q8_0 weights laid out for VNNI, with what the product needs beside them.
#[derive(Clone, Debug)]
pub struct Int8Matmul {
    n: usize,
    k: usize,
    /// The weights in `packed_index` order; columns past `n` are zero.
    packed: Vec<i8>,
    /// The weights in `mmla_index` order, packed from `packed` when the i8mm kernel first
    /// runs (the other kernels never need them).
    #[cfg(target_arch = "aarch64")]
    packed_mmla: std::sync::OnceLock<Vec<i8>>,
    /// The weights as i16s in `wide_index` order, packed from `packed` when the AVX2 kernel
    /// first runs (the other kernels never need them).
    #[cfg(target_arch = "x86_64")]
    packed_wide: std::sync::OnceLock<Vec<i16>>,
    /// For each group and block: the 16 columns' block scales.
    scales: Vec<f32>,
    /// For each group and block: -128 x the 16 columns' sums of the block's weights, where
    /// a block's exact sum starts: the +128 offset of the activations adds 128 x that sum
    /// to the product, and starting there takes it back with no instruction of its own.
    offsets: Vec<i32>,
    /// The bias added to each output column (zero where none was given, and past `n`).
    bias: Vec<f32>,
}

/// A way to run the int8 product: each gives the scalar reference's numbers bit for bit
/// (the same exact i32 block sums, the same f32 operations in the same order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 VNNI: `vpdpbusd`, 64 multiply-adds an instruction.
    Avx512Vnni,
    /// AVX-VNNI (Intel since Alder Lake, AMD since Zen 5): the same `vpdpbusd` on 256
    /// bits, 32 multiply-adds an instruction, where AVX-512 is missing.
    AvxVnni,
    /// AVX-512BW: the AVX2 kernel's `vpmaddwd` on 512 bits, 32 multiply-adds an
    /// instruction, where VNNI is missing (Intel Skylake-SP servers).
    Avx512Bw,
    /// AVX2: `vpmaddwd` on weights and activations widened to i16s, 16 multiply-adds an
    /// instruction.
    Avx2,
    /// aarch64 int8 matrix products (`smmla`, Armv8.6's i8mm: Apple M2 and later,
    /// Graviton 3 and later): a 2 x 8 by 8 x 2 product, 32 byte products, one instruction.
    NeonMmla,
    /// aarch64 dot products (`sdot`, Armv8.2's dotprod: Apple M1 and later, Graviton 2 and
    /// later, Cortex-A55/A76 and later): 16 byte products added into 4 i32 lanes, one
    /// instruction.
    NeonDot,
    /// aarch64 NEON: `smull` and `sadalp` (8 products widened to i16, added in pairs into
    /// i32), exact; part of every aarch64 CPU.
    Neon,
    /// Plain Rust: the reference.
    Scalar,
}

impl Kernel {
    /// Every kernel this CPU runs, fastest first (the scalar one last, always there).
    pub fn supported() -> Vec<Kernel> {
        let mut kernels = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                kernels.push(Kernel::Avx512Vnni);
            }
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            if avx2 && std::arch::is_x86_feature_detected!("avxvnni") {
                kernels.push(Kernel::AvxVnni);
            }
            if avx2
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                kernels.push(Kernel::Avx512Bw);
            }
            if avx2 {
                kernels.push(Kernel::Avx2);
            }
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("neon") {
            if std::arch::is_aarch64_feature_detected!("i8mm") {
                kernels.push(Kernel::NeonMmla);
            }
            if std::arch::is_aarch64_feature_detected!("dotprod") {
                kernels.push(Kernel::NeonDot);
            }
            kernels.push(Kernel::Neon);
        }
        kernels.push(Kernel::Scalar);
        kernels
    }

    /// The kernel int8 Linears use: the first of `supported` but plain NEON, or the one
    /// named by `MLKIT_INT8_KERNEL` (avx512vnni, avxvnni, avx512bw, avx2, neonmmla, neondot,
    /// neon, scalar) when this CPU runs it; `Scalar` means that `--dtype int8` runs as q8.
    ///
    /// On one core of an AMD EPYC with every x86 kernel (`benches/int8_matmul.rs`, 384 x
    /// 1536 on 2,048 tokens): f32 (AVX-512) 10.1 ms, AVX-512 VNNI 4.2 ms, AVX-VNNI 7.3 ms,
    /// AVX-512BW 6.9 ms, AVX2 13.6 ms: AVX2 alone loses to AVX-512's f32, hence the
    /// AVX-512BW kernel where VNNI is missing. With the CPU's AVX-512 and AVX-VNNI hidden
    /// from the process (`benches/hide_cpu_features.c`, f32 on AVX2 too): f32 20.4 ms, AVX2
    /// 13.3 ms (17.6 ms with bytes and `vpmaddubsw`, see `avx2::tile`). On aarch64 the
    /// matrix- and dot-product kernels are chosen for their eight and four byte products a
    /// lane to f32's one multiply-add (ggml and onnxruntime run Q8 products this way on
    /// ARM); plain NEON is not, taking three instructions for what `sdot` does in one.
    pub fn chosen() -> Kernel {
        static CHOSEN: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let supported = Kernel::supported();
            let asked = std::env::var("MLKIT_INT8_KERNEL").ok();
            match asked.and_then(|name| supported.iter().copied().find(|k| k.name() == name)) {
                Some(kernel) => kernel,
                None => supported
                    .into_iter()
                    .find(|k| !matches!(k, Kernel::Neon | Kernel::Scalar))
                    .unwrap_or(Kernel::Scalar),
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512Vnni => "avx512vnni",
            Kernel::AvxVnni => "avxvnni",
            Kernel::Avx512Bw => "avx512bw",
            Kernel::Avx2 => "avx2",
            Kernel::NeonMmla => "neonmmla",
            Kernel::NeonDot => "neondot",
            Kernel::Neon => "neon",
            Kernel::Scalar => "scalar",
        }
    }
}

/// Whether this CPU runs the int8 product with vector instructions (else Q8_0 weights are
/// expanded to f32, which is faster than the scalar int8 product).
pub fn available() -> bool {
    Kernel::chosen() != Kernel::Scalar
}

impl Int8Matmul {
    /// Packs a Q8_0 weight of shape (n, k) from its GGUF bytes: per row, `k / 32` blocks
    /// of an f16 scale and 32 i8 values.
    pub fn from_q8_0(n: usize, k: usize, data: &[u8]) -> Result<Int8Matmul, Int8Error> {
        if !k.is_multiple_of(BLOCK) || k == 0 {
            return Err(Int8Error::Width(k));
        }
        let blocks = k / BLOCK;
        let want = n.checked_mul(blocks * BLOCK_BYTES).ok_or(Int8Error::Size {
            n,
            k,
            got: data.len(),
            want: usize::MAX,
        })?;
        if data.len() != want {
            return Err(Int8Error::Size {
                n,
                k,
                got: data.len(),
                want,
            });
        }
        let groups = n.div_ceil(LANES);
        let mut packed = vec![0i8; groups * k * LANES];
        let mut scales = vec![0f32; groups * blocks * LANES];
        let mut offsets = vec![0i32; groups * blocks * LANES];
        for col in 0..n {
            let (g, lane) = (col / LANES, col % LANES);
            for b in 0..blocks {
                let at = (col * blocks + b) * BLOCK_BYTES;
                let scale = half::f16::from_le_bytes([data[at], data[at + 1]]).to_f32();
                let values = &data[at + 2..at + BLOCK_BYTES];
                let slot = (g * blocks + b) * LANES + lane;
                scales[slot] = scale;
                let mut sum = 0i32;
                for (i, &byte) in values.iter().enumerate() {
                    let v = byte as i8;
                    sum += i32::from(v);
                    let kk = b * BLOCK + i;
                    packed[packed_index(k, g, kk, lane)] = v;
                }
                offsets[slot] = -128 * sum;
            }
        }
        Ok(Int8Matmul {
            n,
            k,
            packed,
            scales,
            offsets,
            bias: vec![0.0; groups * LANES],
            #[cfg(target_arch = "aarch64")]
            packed_mmla: std::sync::OnceLock::new(),
            #[cfg(target_arch = "x86_64")]
            packed_wide: std::sync::OnceLock::new(),
        })
    }

    /// Adds `bias` (one value per output column) to every product row as it is stored,
    /// saving the pass over the result that a separate addition costs.
    pub fn with_bias(mut self, bias: &[f32]) -> Result<Int8Matmul, Int8Error> {
        if bias.len() != self.n {
            return Err(Int8Error::Bias {
                n: self.n,
                got: bias.len(),
            });
        }
        self.bias[..self.n].copy_from_slice(bias);
        Ok(self)
    }

    /// The weights in `mmla_index` order (packed on first use).
    #[cfg(target_arch = "aarch64")]
    fn packed_mmla(&self) -> &[i8] {
        self.packed_mmla.get_or_init(|| {
            let mut out = vec![0i8; self.packed.len()];
            for g in 0..self.n.div_ceil(LANES) {
                for kk in 0..self.k {
                    for lane in 0..LANES {
                        out[mmla_index(self.k, g, kk, lane)] =
                            self.packed[packed_index(self.k, g, kk, lane)];
                    }
                }
            }
            out
        })
    }

    /// The weights in `wide_index` order, as i16s (packed on first use).
    #[cfg(target_arch = "x86_64")]
    fn packed_wide(&self) -> &[i16] {
        self.packed_wide.get_or_init(|| {
            let mut out = vec![0i16; self.packed.len()];
            for g in 0..self.n.div_ceil(LANES) {
                for kk in 0..self.k {
                    for lane in 0..LANES {
                        out[wide_index(self.k, g, kk, lane)] =
                            i16::from(self.packed[packed_index(self.k, g, kk, lane)]);
                    }
                }
            }
            out
        })
    }

    /// The weight's rows (output columns).
    pub fn n(&self) -> usize {
        self.n
    }

    /// The weight's width (the inputs' width).
    pub fn k(&self) -> usize {
        self.k
    }

    /// `m` rows of `x` (m x k, row-major) times the weight's transpose: m x n.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.matmul_with(Kernel::chosen(), x, m)
    }

    /// `matmul` by `kernel`, which must be one of `Kernel::supported()` (else the scalar
    /// reference runs).
    pub fn matmul_with(&self, kernel: Kernel, x: &[f32], m: usize) -> Vec<f32> {
        self.product(kernel, x, m, None)
    }

    /// `matmul` with the result as (m / seq, n / head_dim, seq, head_dim): the rows cut
    /// into sequences, the columns into attention heads, heads before positions. `None`
    /// where `seq` does not divide m, or `head_dim` n, or 16 does not divide `head_dim`.
    pub fn matmul_heads(
        &self,
        x: &[f32],
        m: usize,
        seq: usize,
        head_dim: usize,
    ) -> Option<Vec<f32>> {
        self.matmul_heads_with(Kernel::chosen(), x, m, seq, head_dim)
    }

    /// `matmul_heads` by `kernel` (as `matmul_with`).
    pub fn matmul_heads_with(
        &self,
        kernel: Kernel,
        x: &[f32],
        m: usize,
        seq: usize,
        head_dim: usize,
    ) -> Option<Vec<f32>> {
        let fits = seq > 0
            && m.is_multiple_of(seq)
            && head_dim > 0
            && head_dim.is_multiple_of(LANES)
            && self.n.is_multiple_of(head_dim);
        fits.then(|| self.product(kernel, x, m, Some((seq, head_dim))))
    }

    /// The product by `kernel`, stored as `Out` says for `heads`.
    fn product(
        &self,
        kernel: Kernel,
        x: &[f32],
        m: usize,
        heads: Option<(usize, usize)>,
    ) -> Vec<f32> {
        let kernel = if Kernel::supported().contains(&kernel) {
            kernel
        } else {
            Kernel::Scalar
        };
        SCRATCH.with_borrow_mut(|(a, a_scales, wide)| {
            // Only x86's AVX2 and AVX-512BW kernels read their activations as i16s.
            #[cfg(not(target_arch = "x86_64"))]
            let _ = wide;
            // The AVX2 and AVX-512BW kernels multiply the activations as i16s.
            #[cfg(target_arch = "x86_64")]
            if matches!(kernel, Kernel::Avx2 | Kernel::Avx512Bw) {
                quantize_rows_wide(x, m, self.k, wide, a_scales);
            } else {
                quantize_rows(x, m, self.k, a, a_scales);
            }
            #[cfg(not(target_arch = "x86_64"))]
            quantize_rows(x, m, self.k, a, a_scales);
            // Every kernel writes each of the m x n values once: zeroing them first cost a
            // pass over the result (3% of an encoder's time).
            let mut out: Vec<f32> = Vec::with_capacity(m * self.n);
            let y = &mut Out {
                y: &mut out.spare_capacity_mut()[..m * self.n],
                n: self.n,
                heads,
            };
            match kernel {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU has AVX-512F and VNNI (`Kernel::supported`).
                Kernel::Avx512Vnni => unsafe { run_tiles(self, a, a_scales, m, y, &vnni::TILES) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU has AVX2, FMA and AVX-VNNI (`Kernel::supported`).
                Kernel::AvxVnni => unsafe { run_tiles(self, a, a_scales, m, y, &avx2::TILES_VNNI) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU has AVX2 and FMA (`Kernel::supported`).
                Kernel::Avx2 => unsafe { run_tiles(self, wide, a_scales, m, y, &avx2::TILES) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU has AVX2, FMA, AVX-512F and AVX-512BW
                // (`Kernel::supported`).
                Kernel::Avx512Bw => unsafe {
                    run_tiles(self, wide, a_scales, m, y, &vnni::TILES_WIDE)
                },
                #[cfg(target_arch = "aarch64")]
                // SAFETY: the CPU has NEON and i8mm (`Kernel::supported`).
                Kernel::NeonMmla => unsafe {
                    run_tiles(self, a, a_scales, m, y, &neon::TILES_MMLA)
                },
                #[cfg(target_arch = "aarch64")]
                // SAFETY: the CPU has NEON and dotprod (`Kernel::supported`).
                Kernel::NeonDot => unsafe { run_tiles(self, a, a_scales, m, y, &neon::TILES_DOT) },
                #[cfg(target_arch = "aarch64")]
                // SAFETY: the CPU has NEON (`Kernel::supported`).
                Kernel::Neon => unsafe { run_tiles(self, a, a_scales, m, y, &neon::TILES) },
                _ => self.matmul_scalar(a, a_scales, m, y),
            }
            // SAFETY: the kernel above stored all m x n values (every kernel stores each
            // column of each row, checked against the scalar one's numbers in the tests).
            unsafe { out.set_len(m * self.n) };
            out
        })
    }

    /// The same arithmetic in plain Rust, in the same order (so the same numbers, bit for
    /// bit): the reference the vector code is tested against, and the fallback.
    #[allow(clippy::needless_range_loop)]
    fn matmul_scalar(&self, a: &[u8], a_scales: &[f32], m: usize, y: &mut Out) {
        let (n, k, blocks) = (self.n, self.k, self.k / BLOCK);
        for row in 0..m {
            let a_row = &a[row * k..(row + 1) * k];
            for col in 0..n {
                let (g, lane) = (col / LANES, col % LANES);
                let mut acc = 0f32;
                for b in 0..blocks {
                    let slot = (g * blocks + b) * LANES + lane;
                    let mut exact = self.offsets[slot];
                    for kk in b * BLOCK..(b + 1) * BLOCK {
                        let w = self.packed[packed_index(k, g, kk, lane)];
                        exact += i32::from(a_row[kk]) * i32::from(w);
                    }
                    let both = self.scales[slot] * a_scales[row * blocks + b];
                    acc = (exact as f32).mul_add(both, acc);
                }
                let at = y.start(row, col);
                y.y[at] = MaybeUninit::new(acc + self.bias[col]);
            }
        }
    }
}

type Scratch = (Vec<u8>, Vec<f32>, Vec<i16>);

thread_local! {
    /// Quantized activations, their scales and (for the AVX2 kernel) the activations as
    /// i16s, kept between calls: fresh buffers of a few MB cost page faults on every Linear.
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new()))
    };
}

/// Each block of 32 values of `x` (m x k) as bytes `round(x / s) + 128` with
/// `s = max |x| / 127` (rounding half to even) into `a`, and the `s`s into `scales`, a row's
/// blocks in order. A block of zeros (or with a NaN or infinity, which no valid model makes)
/// is all 128, which is zero.
fn quantize_rows(x: &[f32], m: usize, k: usize, a: &mut Vec<u8>, scales: &mut Vec<f32>) {
    a.resize(m * k, 0);
    scales.resize(m * k / BLOCK, 0.0);
    let x = &x[..m * k];
    quantize_blocks_with(Quantizer::best(), x, a, scales);
}

/// `quantize_rows`' values less their offset of 128, as i16s, into `wide` (the AVX2 and
/// AVX-512BW kernels' activations). The CPU must have AVX2, which both kernels need.
#[cfg(target_arch = "x86_64")]
fn quantize_rows_wide(x: &[f32], m: usize, k: usize, wide: &mut Vec<i16>, scales: &mut Vec<f32>) {
    wide.resize(m * k, 0);
    scales.resize(m * k / BLOCK, 0.0);
    // SAFETY: the callers run it for kernels that need AVX2; the sizes are whole blocks.
    unsafe { avx2::quantize_blocks_wide(&x[..m * k], wide, scales) };
}

/// How the activations are quantized: each gives the scalar code's bytes and scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quantizer {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "aarch64")]
    Neon,
    Scalar,
}

impl Quantizer {
    /// Every quantizer this CPU runs, fastest first.
    // Elsewhere than on x86-64 and aarch64 the list is the scalar one alone.
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(clippy::vec_init_then_push)
    )]
    fn supported() -> Vec<Quantizer> {
        let mut all = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                all.push(Quantizer::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                all.push(Quantizer::Avx2);
            }
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("neon") {
            all.push(Quantizer::Neon);
        }
        all.push(Quantizer::Scalar);
        all
    }

    fn best() -> Quantizer {
        static BEST: std::sync::OnceLock<Quantizer> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Quantizer::supported()[0])
    }
}

/// The blocks of `x` into `a` and `scales` (as `quantize_rows` says) by `quantizer`, which
/// must be one of `Quantizer::supported()`.
fn quantize_blocks_with(quantizer: Quantizer, x: &[f32], a: &mut [u8], scales: &mut [f32]) {
    match quantizer {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (`Quantizer::supported`).
        Quantizer::Avx512 => unsafe { vnni::quantize_blocks(x, a, scales) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 (`Quantizer::supported`).
        Quantizer::Avx2 => unsafe { avx2::quantize_blocks(x, a, scales) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: the CPU has NEON (`Quantizer::supported`).
        Quantizer::Neon => unsafe { neon::quantize_blocks(x, a, scales) },
        _ => {
            for ((xs, q), scale) in x
                .chunks_exact(BLOCK)
                .zip(a.chunks_exact_mut(BLOCK))
                .zip(scales.iter_mut())
            {
                *scale = quantize_block(xs, q);
            }
        }
    }
}

/// A block's scale and its inverse for a vector quantizer, from the block's largest
/// magnitude and whether it holds a NaN; `None` sends the block to `quantize_block`: one of
/// zeros, with a NaN or an infinity (all zero there), or with a scale so small that its
/// inverse is infinite (where the vector conversion would differ from the scalar one).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn vector_scale(amax: f32, nan: bool) -> Option<(f32, f32)> {
    let scale = amax / 127.0;
    let inv = 1.0 / scale;
    (!nan && amax > 0.0 && amax.is_finite() && inv.is_finite()).then_some((scale, inv))
}

/// One block of 32 values as `quantize_rows` makes it, returning its scale: the reference
/// the vector quantizers match, and what they fall back on for a scale so small that its
/// inverse is infinite.
fn quantize_block(xs: &[f32], q: &mut [u8]) -> f32 {
    q.fill(128);
    let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
    if !(amax > 0.0 && amax.is_finite()) || xs.iter().any(|v| v.is_nan()) {
        return 0.0;
    }
    let scale = amax / 127.0;
    let inv = 1.0 / scale;
    for (q, &v) in q.iter_mut().zip(xs) {
        *q = ((v * inv).round_ties_even().clamp(-127.0, 127.0) as i32 + 128) as u8;
    }
    scale
}

/// Where the kernels store the m x n result: row-major, or (`heads`: a sequence length and
/// a head width) as (m / seq, n / head_dim, seq, head_dim), the layout attention takes its
/// queries, keys and values in, which would otherwise cost a copy. A head width is a
/// multiple of 16, so that each group's columns lie in one head, side by side.
struct Out<'a> {
    y: &'a mut [MaybeUninit<f32>],
    n: usize,
    heads: Option<(usize, usize)>,
}

impl Out<'_> {
    /// The index of value (row, col) in `y`.
    fn start(&self, row: usize, col: usize) -> usize {
        match self.heads {
            None => row * self.n + col,
            Some((seq, head_dim)) => {
                let head = row / seq * (self.n / head_dim) + col / head_dim;
                (head * seq + row % seq) * head_dim + col % head_dim
            }
        }
    }

    /// Where a tile stores its 16 columns of group `g` in row `row`: the place and how many
    /// of the 16 are real columns (the last group's may be fewer). Panics if the place is
    /// outside `y`, which no tile of an m-row product asks for.
    fn lanes(&mut self, row: usize, g: usize) -> (*mut f32, usize) {
        let cols = (self.n - g * LANES).min(LANES);
        let at = self.start(row, g * LANES);
        (self.y[at..at + cols].as_mut_ptr().cast::<f32>(), cols)
    }
}

/// The 4 bytes of `a` from element `at` on, as one i32: the 4 activations (or 2 widened
/// ones) that a tile broadcasts against a step of weights.
///
/// # Safety
/// `a` must hold 4 bytes from element `at` on.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn four_bytes<A>(a: &[A], at: usize) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { a.as_ptr().add(at).cast::<i32>().read_unaligned() }
}

/// A kernel's tile: `tile(w, a, a_scales, row, g, y)` stores rows `row..row + R` of the
/// result, the columns of groups `g..g + G`, for the tile's shape. Kernels list theirs by
/// shape (`tiles[R - 1][G - 1]`), for [`run_tiles`].
///
/// # Safety
/// The CPU must have the tile's instructions; rows `row..row + R` and groups `g..g + G`
/// must lie inside `a`, `y` and the packed weights.
type Tile<A = u8> = unsafe fn(&Int8Matmul, &[A], &[f32], usize, usize, &mut Out);

/// The product by a kernel's tiles: `tiles[R - 1][G - 1]` on every tile of R rows and G
/// column groups (as many rows as `tiles` has lists and groups as a list has tiles, fewer
/// at the ends), row tiles within each run of column groups.
///
/// # Safety
/// The CPU must have the instructions of every tile in `tiles`.
unsafe fn run_tiles<A, const G: usize>(
    w: &Int8Matmul,
    a: &[A],
    a_scales: &[f32],
    m: usize,
    y: &mut Out,
    tiles: &[[Tile<A>; G]],
) {
    let groups = w.n.div_ceil(LANES);
    let mut g = 0;
    while g < groups {
        let width = (groups - g).min(G);
        let mut row = 0;
        while row < m {
            let rows = (m - row).min(tiles.len());
            // SAFETY: the CPU has the tile's instructions (this function's contract); rows
            // `row..row + rows` and groups `g..g + width` lie inside `a`, `y` and the
            // packed weights.
            unsafe { tiles[rows - 1][width - 1](w, a, a_scales, row, g, y) };
            row += rows;
        }
        g += width;
    }
}

// Tiles index rows and column groups together: plain index loops read best.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{packed_index, wide_index, Int8Matmul, Out, Tile, BLOCK, LANES};

    /// Rows per tile: 4 rows x 3 column groups (48 columns) keep 12 i32 and 12 f32
    /// accumulators in registers, with room for the weights and the broadcast activations
    /// (32 in all). Measured against 4 x 2: 1.1x to 1.4x on MiniLM's shapes.
    const ROWS: usize = 4;

    /// The AVX-512 VNNI kernel's tiles, by shape. The CPU must have AVX-512F and VNNI.
    pub const TILES: [[Tile; 3]; ROWS] = [
        [tile::<1, 1>, tile::<1, 2>, tile::<1, 3>],
        [tile::<2, 1>, tile::<2, 2>, tile::<2, 3>],
        [tile::<3, 1>, tile::<3, 2>, tile::<3, 3>],
        [tile::<4, 1>, tile::<4, 2>, tile::<4, 3>],
    ];

    /// The AVX-512BW kernel's tiles, by shape, on activations that `avx2::quantize_blocks_wide` made
    /// i16s. The CPU must have AVX2, AVX-512F and AVX-512BW.
    pub const TILES_WIDE: [[Tile<i16>; 3]; ROWS] = [
        [tile_wide::<1, 1>, tile_wide::<1, 2>, tile_wide::<1, 3>],
        [tile_wide::<2, 1>, tile_wide::<2, 2>, tile_wide::<2, 3>],
        [tile_wide::<3, 1>, tile_wide::<3, 2>, tile_wide::<3, 3>],
        [tile_wide::<4, 1>, tile_wide::<4, 2>, tile_wide::<4, 3>],
    ];

    /// The blocks of `x` as `quantize_rows` makes them: the same numbers (the conversion
    /// rounds half to even, as the scalar code does).
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `x.len() == a.len() == 32 * scales.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn quantize_blocks(x: &[f32], a: &mut [u8], scales: &mut [f32]) {
        let (lo, hi, offset) = (
            _mm512_set1_epi32(-127),
            _mm512_set1_epi32(127),
            _mm512_set1_epi32(128),
        );
        for ((x, q), scale) in x
            .chunks_exact(BLOCK)
            .zip(a.chunks_exact_mut(BLOCK))
            .zip(scales.iter_mut())
        {
            // SAFETY: `x` holds 32 f32s.
            let v = unsafe {
                [
                    _mm512_loadu_ps(x.as_ptr()),
                    _mm512_loadu_ps(x.as_ptr().add(16)),
                ]
            };
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v[0], v[0])
                | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v[1], v[1]);
            let amax =
                _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v[0]), _mm512_abs_ps(v[1])));
            let Some((s, inv)) = super::vector_scale(amax, nan != 0) else {
                *scale = super::quantize_block(x, q);
                continue;
            };
            *scale = s;
            let inv = _mm512_set1_ps(inv);
            for (half, v) in v.into_iter().enumerate() {
                let i = _mm512_cvtps_epi32(_mm512_mul_ps(v, inv));
                let i = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(i, lo), hi), offset);
                // SAFETY: `q` holds 32 bytes.
                unsafe {
                    _mm_storeu_si128(
                        q.as_mut_ptr().add(half * 16).cast(),
                        _mm512_cvtepi32_epi8(i),
                    )
                };
            }
        }
    }

    /// Rows `row..row + R` of the result, columns of groups `g..g + G`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn tile<const R: usize, const G: usize>(
        w: &Int8Matmul,
        a: &[u8],
        a_scales: &[f32],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        let k = w.k;
        let blocks = k / BLOCK;
        let mut sums = [[_mm512_setzero_ps(); G]; R];
        for b in 0..blocks {
            // Each block's exact sums start from the offsets (see `Int8Matmul::offsets`).
            // SAFETY: `slot + 16 <= offsets.len()` for every group and block.
            let starts: [__m512i; G] = std::array::from_fn(|j| unsafe {
                let slot = ((g + j) * blocks + b) * LANES;
                _mm512_loadu_si512(w.offsets.as_ptr().add(slot).cast())
            });
            let mut dots = [starts; R];
            for step in 0..BLOCK / 4 {
                let kk = b * BLOCK + step * 4;
                let mut ws = [_mm512_setzero_si512(); G];
                for (j, wv) in ws.iter_mut().enumerate() {
                    let at = packed_index(k, g + j, kk, 0);
                    // SAFETY: `at + 64 <= packed.len()` for every group and k.
                    *wv = unsafe { _mm512_loadu_si512(w.packed.as_ptr().add(at).cast()) };
                }
                for (r, dot) in dots.iter_mut().enumerate() {
                    // SAFETY: `(row + r) * k + kk + 4 <= a.len()`: the row is inside `a`
                    // and `kk + 4 <= k`.
                    let four = unsafe { super::four_bytes(a, (row + r) * k + kk) };
                    let av = _mm512_set1_epi32(four);
                    for j in 0..G {
                        dot[j] = _mm512_dpbusd_epi32(dot[j], av, ws[j]);
                    }
                }
            }
            add_block(w, &dots, a_scales, row, g, b, &mut sums);
        }
        store(w, &sums, row, g, y);
    }

    /// Rows `row..row + R` of the result, columns of groups `g..g + G`, as `avx2::tile`
    /// computes them (`vpmaddwd` on i16s) with a group's 16 columns in one vector.
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw")]
    unsafe fn tile_wide<const R: usize, const G: usize>(
        w: &Int8Matmul,
        a: &[i16],
        a_scales: &[f32],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        let k = w.k;
        let blocks = k / BLOCK;
        let packed = w.packed_wide();
        let mut sums = [[_mm512_setzero_ps(); G]; R];
        for b in 0..blocks {
            let mut dots = [[_mm512_setzero_si512(); G]; R];
            for step in 0..BLOCK / 2 {
                let kk = b * BLOCK + step * 2;
                // SAFETY: `at + 32 <= packed.len()` for every group and k.
                let ws: [__m512i; G] = std::array::from_fn(|j| unsafe {
                    _mm512_loadu_si512(packed.as_ptr().add(wide_index(k, g + j, kk, 0)).cast())
                });
                for (r, dot) in dots.iter_mut().enumerate() {
                    // SAFETY: `(row + r) * k + kk + 2 <= a.len()`: the row is inside `a`
                    // and `kk + 2 <= k`.
                    let two = unsafe { super::four_bytes(a, (row + r) * k + kk) };
                    let av = _mm512_set1_epi32(two);
                    for j in 0..G {
                        dot[j] = _mm512_add_epi32(dot[j], _mm512_madd_epi16(ws[j], av));
                    }
                }
            }
            add_block(w, &dots, a_scales, row, g, b, &mut sums);
        }
        store(w, &sums, row, g, y);
    }

    /// A block's exact sums, times the product of the block's weight and activation
    /// scales, added to each row's running sums (the scalar reference's operations).
    #[target_feature(enable = "avx512f")]
    fn add_block<const R: usize, const G: usize>(
        w: &Int8Matmul,
        dots: &[[__m512i; G]; R],
        a_scales: &[f32],
        row: usize,
        g: usize,
        b: usize,
        sums: &mut [[__m512; G]; R],
    ) {
        let blocks = w.k / BLOCK;
        for j in 0..G {
            let slot = ((g + j) * blocks + b) * LANES;
            // SAFETY: `slot + 16 <= scales.len()`.
            let scale = unsafe { _mm512_loadu_ps(w.scales.as_ptr().add(slot)) };
            for r in 0..R {
                let exact = _mm512_cvtepi32_ps(dots[r][j]);
                let both = _mm512_mul_ps(scale, _mm512_set1_ps(a_scales[(row + r) * blocks + b]));
                sums[r][j] = _mm512_fmadd_ps(exact, both, sums[r][j]);
            }
        }
    }

    /// The tile's sums plus the bias into `y`.
    #[target_feature(enable = "avx512f")]
    fn store<const R: usize, const G: usize>(
        w: &Int8Matmul,
        sums: &[[__m512; G]; R],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        for j in 0..G {
            // SAFETY: `bias` holds 16 values for every group.
            let bias = unsafe { _mm512_loadu_ps(w.bias.as_ptr().add((g + j) * LANES)) };
            for r in 0..R {
                let (out, cols) = y.lanes(row + r, g + j);
                let mask = (u32::MAX >> (32 - cols)) as __mmask16;
                // SAFETY: `out` holds `cols` f32s, the lanes the mask stores.
                unsafe { _mm512_mask_storeu_ps(out, mask, _mm512_add_ps(sums[r][j], bias)) };
            }
        }
    }
}

// Tiles index rows and column halves together: plain index loops read best.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{packed_index, wide_index, Int8Matmul, Out, Tile, BLOCK, LANES};

    /// Rows per tile: 4 rows x one group of 16 columns (two halves of 8) keep 8 i32
    /// accumulators, the weights and the activations in the 16 registers AVX2 has (the 8
    /// f32 sums, touched once a block, wait in memory).
    const ROWS: usize = 4;

    /// The AVX2 kernel's tiles, by row count, on activations that `widen` made i16s. The CPU
    /// must have AVX2 and FMA.
    pub const TILES: [[Tile<i16>; 1]; ROWS] = [[tile::<1>], [tile::<2>], [tile::<3>], [tile::<4>]];

    /// The blocks of `x` as `quantize_rows` makes them: the same numbers (the conversion
    /// rounds half to even, as the scalar code does).
    ///
    /// # Safety
    /// The CPU must have AVX2; `x.len() == a.len() == 32 * scales.len()`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn quantize_blocks(x: &[f32], a: &mut [u8], scales: &mut [f32]) {
        let offset = _mm256_set1_epi32(128);
        // packs and packus interleave 128-bit lanes: this puts the bytes back in order.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for ((x, q), scale) in x
            .chunks_exact(BLOCK)
            .zip(a.chunks_exact_mut(BLOCK))
            .zip(scales.iter_mut())
        {
            let Some((s, i)) = block_integers(x) else {
                *scale = super::quantize_block(x, q);
                continue;
            };
            *scale = s;
            let i = i.map(|i| _mm256_add_epi32(i, offset));
            let bytes = _mm256_packus_epi16(
                _mm256_packs_epi32(i[0], i[1]),
                _mm256_packs_epi32(i[2], i[3]),
            );
            let bytes = _mm256_permutevar8x32_epi32(bytes, order);
            // SAFETY: `q` holds 32 bytes.
            unsafe { _mm256_storeu_si256(q.as_mut_ptr().cast(), bytes) };
        }
    }

    /// The blocks of `x` as `quantize_rows` makes them, less their offset of 128, as i16s:
    /// what the AVX2 and AVX-512BW kernels multiply, with no pass to widen the bytes.
    ///
    /// # Safety
    /// The CPU must have AVX2; `x.len() == wide.len() == 32 * scales.len()`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn quantize_blocks_wide(x: &[f32], wide: &mut [i16], scales: &mut [f32]) {
        for ((x, q), scale) in x
            .chunks_exact(BLOCK)
            .zip(wide.chunks_exact_mut(BLOCK))
            .zip(scales.iter_mut())
        {
            let Some((s, i)) = block_integers(x) else {
                let mut bytes = [0u8; BLOCK];
                *scale = super::quantize_block(x, &mut bytes);
                for (q, b) in q.iter_mut().zip(bytes) {
                    *q = i16::from(b) - 128;
                }
                continue;
            };
            *scale = s;
            for (half, pair) in i.chunks_exact(2).enumerate() {
                // packs interleaves 128-bit lanes: the permutation puts them back in order.
                let v =
                    _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(pair[0], pair[1]));
                // SAFETY: `q` holds 32 i16s.
                unsafe { _mm256_storeu_si256(q.as_mut_ptr().add(16 * half).cast(), v) };
            }
        }
    }

    /// A block of 32 values' scale and its values divided by it, rounded half to even and
    /// clamped to -127..=127, as 4 vectors of 8; `None` where `vector_scale` sends the block
    /// to the scalar code.
    #[target_feature(enable = "avx2")]
    fn block_integers(x: &[f32]) -> Option<(f32, [__m256i; 4])> {
        let (lo, hi) = (_mm256_set1_epi32(-127), _mm256_set1_epi32(127));
        let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
        // SAFETY: `x` holds 32 f32s.
        let v: [__m256; 4] =
            std::array::from_fn(|i| unsafe { _mm256_loadu_ps(x[..BLOCK].as_ptr().add(8 * i)) });
        let mut nan = 0;
        let mut most = _mm256_setzero_ps();
        for v in v {
            nan |= _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
            most = _mm256_max_ps(most, _mm256_and_ps(v, magnitude));
        }
        // The largest of the 8 lanes: halves, then quarters, then pairs.
        let most = _mm_max_ps(
            _mm256_castps256_ps128(most),
            _mm256_extractf128_ps::<1>(most),
        );
        let most = _mm_max_ps(most, _mm_movehl_ps(most, most));
        let most = _mm_max_ss(most, _mm_shuffle_ps::<0b01>(most, most));
        let (s, inv) = super::vector_scale(_mm_cvtss_f32(most), nan != 0)?;
        let inv = _mm256_set1_ps(inv);
        Some((
            s,
            std::array::from_fn(|j| {
                let i = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], inv));
                _mm256_min_epi32(_mm256_max_epi32(i, lo), hi)
            }),
        ))
    }

    /// The AVX-VNNI kernel's tiles, by row count: `vpdpbusd` on 256 bits, as the AVX-512
    /// kernel does it (the stored activations, offset by +128, against the signed weights,
    /// the offset's share taken back per block). The CPU must have AVX2, FMA and AVX-VNNI.
    pub const TILES_VNNI: [[Tile; 1]; 3] = [[tile_vnni::<1>], [tile_vnni::<2>], [tile_vnni::<3>]];

    /// Rows `row..row + R` of the result, the 16 columns of group `g`, with AVX-VNNI: 3
    /// rows keep 6 i32 and 6 f32 accumulators, the weights and the activations in the 16
    /// registers.
    #[target_feature(enable = "avx2,fma,avxvnni")]
    unsafe fn tile_vnni<const R: usize>(
        w: &Int8Matmul,
        a: &[u8],
        a_scales: &[f32],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        let k = w.k;
        let blocks = k / BLOCK;
        let mut sums = [[_mm256_setzero_ps(); 2]; R];
        for b in 0..blocks {
            // Each block's exact sums start from the offsets (see `Int8Matmul::offsets`).
            let slot = (g * blocks + b) * LANES;
            // SAFETY: `slot + 16 <= offsets.len()` for every group and block.
            let starts: [__m256i; 2] = std::array::from_fn(|h| unsafe {
                _mm256_loadu_si256(w.offsets.as_ptr().add(slot + h * 8).cast())
            });
            let mut dots = [starts; R];
            for step in 0..BLOCK / 4 {
                let kk = b * BLOCK + step * 4;
                let at = packed_index(k, g, kk, 0);
                // SAFETY: `at + 64 <= packed.len()` for every group and k.
                let ws = unsafe {
                    [
                        _mm256_loadu_si256(w.packed.as_ptr().add(at).cast()),
                        _mm256_loadu_si256(w.packed.as_ptr().add(at + 32).cast()),
                    ]
                };
                for r in 0..R {
                    // SAFETY: `(row + r) * k + kk + 4 <= a.len()`.
                    let four = unsafe { super::four_bytes(a, (row + r) * k + kk) };
                    let av = _mm256_set1_epi32(four);
                    for h in 0..2 {
                        dots[r][h] = _mm256_dpbusd_avx_epi32(dots[r][h], av, ws[h]);
                    }
                }
            }
            add_block(w, &dots, a_scales, row, g, b, &mut sums);
        }
        store(w, &sums, row, g, y);
    }

    /// The tile's sums plus the bias into `y`.
    #[target_feature(enable = "avx2")]
    fn store<const R: usize>(
        w: &Int8Matmul,
        sums: &[[__m256; 2]; R],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        // SAFETY: `bias` holds 16 values for every group.
        let bias: [__m256; 2] = std::array::from_fn(|h| unsafe {
            _mm256_loadu_ps(w.bias.as_ptr().add(g * LANES + h * 8))
        });
        for r in 0..R {
            let mut lanes = [0f32; LANES];
            for h in 0..2 {
                // SAFETY: `lanes` holds 16 f32s.
                unsafe {
                    _mm256_storeu_ps(
                        lanes.as_mut_ptr().add(h * 8),
                        _mm256_add_ps(sums[r][h], bias[h]),
                    )
                };
            }
            let (out, cols) = y.lanes(row + r, g);
            // SAFETY: `out` holds `cols` f32s; `lanes` is a local array.
            unsafe { std::ptr::copy_nonoverlapping(lanes.as_ptr(), out, cols) };
        }
    }

    /// Rows `row..row + R` of the result, the 16 columns of group `g`.
    ///
    /// `vpmaddwd` on i16 weights and activations: 8 columns' products of 2 values each,
    /// added in pairs into i32s, exact (a pair is at most 2 x 128 x 127). Bytes would take
    /// twice the products an instruction (`vpmaddubsw`), but then a `vpmaddwd` to widen
    /// their i16 pair sums, and a `vpsignb` to keep those from saturating (an unsigned
    /// times a signed byte): three instructions on the multiplying units for 32 products,
    /// where this takes two, with plain additions beside them (measured below at
    /// `Kernel::chosen`). The activations are the quantized ones less their offset, so
    /// each block's sum starts from zero.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize>(
        w: &Int8Matmul,
        a: &[i16],
        a_scales: &[f32],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        let k = w.k;
        let blocks = k / BLOCK;
        let packed = w.packed_wide();
        let mut sums = [[_mm256_setzero_ps(); 2]; R];
        for b in 0..blocks {
            let mut dots = [[_mm256_setzero_si256(); 2]; R];
            for step in 0..BLOCK / 2 {
                let kk = b * BLOCK + step * 2;
                let at = wide_index(k, g, kk, 0);
                // SAFETY: `at + 32 <= packed.len()` for every group and k.
                let ws = unsafe {
                    [
                        _mm256_loadu_si256(packed.as_ptr().add(at).cast()),
                        _mm256_loadu_si256(packed.as_ptr().add(at + 16).cast()),
                    ]
                };
                for r in 0..R {
                    // SAFETY: `(row + r) * k + kk + 2 <= a.len()`: the row is inside `a`
                    // and `kk + 2 <= k`.
                    let two = unsafe { super::four_bytes(a, (row + r) * k + kk) };
                    let av = _mm256_set1_epi32(two);
                    for h in 0..2 {
                        dots[r][h] = _mm256_add_epi32(dots[r][h], _mm256_madd_epi16(ws[h], av));
                    }
                }
            }
            add_block(w, &dots, a_scales, row, g, b, &mut sums);
        }
        store(w, &sums, row, g, y);
    }

    /// A block's exact sums, times the product of the block's weight and activation
    /// scales, added to each row's running sums (the scalar reference's operations).
    #[target_feature(enable = "avx2,fma")]
    fn add_block<const R: usize>(
        w: &Int8Matmul,
        dots: &[[__m256i; 2]; R],
        a_scales: &[f32],
        row: usize,
        g: usize,
        b: usize,
        sums: &mut [[__m256; 2]; R],
    ) {
        let blocks = w.k / BLOCK;
        for h in 0..2 {
            let slot = (g * blocks + b) * LANES + h * 8;
            // SAFETY: `slot + 8 <= scales.len()`.
            let scale = unsafe { _mm256_loadu_ps(w.scales.as_ptr().add(slot)) };
            for r in 0..R {
                let exact = _mm256_cvtepi32_ps(dots[r][h]);
                let a_scale = _mm256_set1_ps(a_scales[(row + r) * blocks + b]);
                sums[r][h] = _mm256_fmadd_ps(exact, _mm256_mul_ps(scale, a_scale), sums[r][h]);
            }
        }
    }
}

// Tiles index rows and column quads together: plain index loops read best.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    use super::{mmla_index, packed_index, Int8Matmul, Out, Tile, BLOCK, LANES};

    /// Rows per tile: 2 rows x one group of 16 columns keep 16 i32 accumulators (two per
    /// quad of columns: the products' pair sums of k and k + 1, and of k + 2 and k + 3) and
    /// 8 f32 ones, with the weights and activations, in the 32 registers.
    const ROWS: usize = 2;

    /// The blocks of `x` as `quantize_rows` makes them: the same numbers (`fcvtns` rounds
    /// half to even, as the scalar code does).
    ///
    /// # Safety
    /// The CPU must have NEON; `x.len() == a.len() == 32 * scales.len()`.
    #[target_feature(enable = "neon")]
    pub unsafe fn quantize_blocks(x: &[f32], a: &mut [u8], scales: &mut [f32]) {
        let (lo, hi, offset) = (vdupq_n_s32(-127), vdupq_n_s32(127), vdupq_n_s32(128));
        for ((x, q), scale) in x
            .chunks_exact(BLOCK)
            .zip(a.chunks_exact_mut(BLOCK))
            .zip(scales.iter_mut())
        {
            // SAFETY: `x` holds 32 f32s.
            let v: [float32x4_t; 8] =
                std::array::from_fn(|i| unsafe { vld1q_f32(x.as_ptr().add(4 * i)) });
            // A lane compares unequal to itself only where it is a NaN.
            let mut ordered = vdupq_n_u32(u32::MAX);
            let mut most = vdupq_n_f32(0.0);
            for v in v {
                ordered = vandq_u32(ordered, vceqq_f32(v, v));
                most = vmaxq_f32(most, vabsq_f32(v));
            }
            let nan = vminvq_u32(ordered) == 0;
            let Some((s, inv)) = super::vector_scale(vmaxvq_f32(most), nan) else {
                *scale = super::quantize_block(x, q);
                continue;
            };
            *scale = s;
            let inv = vdupq_n_f32(inv);
            let i: [int32x4_t; 8] = std::array::from_fn(|j| {
                let i = vcvtnq_s32_f32(vmulq_f32(v[j], inv));
                vaddq_s32(vminq_s32(vmaxq_s32(i, lo), hi), offset)
            });
            // 1..=255 in every lane: narrowed to i16, then to u8 without saturating.
            let h: [int16x8_t; 4] =
                std::array::from_fn(|j| vcombine_s16(vmovn_s32(i[2 * j]), vmovn_s32(i[2 * j + 1])));
            for j in 0..2 {
                let bytes = vcombine_u8(vqmovun_s16(h[2 * j]), vqmovun_s16(h[2 * j + 1]));
                // SAFETY: `q` holds 32 bytes.
                unsafe { vst1q_u8(q.as_mut_ptr().add(16 * j), bytes) };
            }
        }
    }

    /// The NEON kernel's tiles, by row count. The CPU must have NEON.
    pub const TILES: [[Tile; 1]; ROWS] = [[tile::<1>], [tile::<2>]];

    /// Rows `row..row + R` of the result, the 16 columns of group `g`, as 4 quads of 4
    /// columns. A quad's 16 weight bytes of a step are 4 columns x 4 consecutive k;
    /// multiplied by the step's 4 activations (offset back to -127..=127) repeated, they give
    /// 16 exact i16 products, added in pairs into 8 i32s; at the block's end the pairs
    /// are added into the 4 columns' exact sums.
    #[target_feature(enable = "neon")]
    unsafe fn tile<const R: usize>(
        w: &Int8Matmul,
        a: &[u8],
        a_scales: &[f32],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        let mut sums = [[vdupq_n_f32(0.0); 4]; R];
        for b in 0..w.k / BLOCK {
            let mut lo = [[vdupq_n_s32(0); 4]; R];
            let mut hi = [[vdupq_n_s32(0); 4]; R];
            for step in 0..BLOCK / 4 {
                let kk = b * BLOCK + step * 4;
                let ws = step_weights(w, g, kk);
                for r in 0..R {
                    let av = step_activations(w, a, row + r, kk);
                    for q in 0..4 {
                        lo[r][q] =
                            vpadalq_s16(lo[r][q], vmull_s8(vget_low_s8(ws[q]), vget_low_s8(av)));
                        hi[r][q] = vpadalq_s16(hi[r][q], vmull_high_s8(ws[q], av));
                    }
                }
            }
            let exact: [[int32x4_t; 4]; R] =
                std::array::from_fn(|r| std::array::from_fn(|q| vpaddq_s32(lo[r][q], hi[r][q])));
            add_block(w, a_scales, row, g, b, &exact, &mut sums);
        }
        store(w, &sums, row, g, y);
    }

    /// The 4 quads' weight bytes of group `g` at step `kk` (4 columns x 4 k each).
    #[target_feature(enable = "neon")]
    #[inline]
    fn step_weights(w: &Int8Matmul, g: usize, kk: usize) -> [int8x16_t; 4] {
        let at = packed_index(w.k, g, kk, 0);
        // SAFETY: `at + 64 <= packed.len()` for every group and k.
        std::array::from_fn(|q| unsafe { vld1q_s8(w.packed.as_ptr().add(at + 16 * q)) })
    }

    /// Row `row`'s 4 activations at step `kk`, offset back to -127..=127 (the stored bytes
    /// are the activations plus 128: flipping the top bit takes it back), repeated 4 times.
    #[target_feature(enable = "neon")]
    #[inline]
    fn step_activations(w: &Int8Matmul, a: &[u8], row: usize, kk: usize) -> int8x16_t {
        let at = row * w.k + kk;
        let four = u32::from_le_bytes([a[at], a[at + 1], a[at + 2], a[at + 3]]);
        vreinterpretq_s8_u8(veorq_u8(
            vreinterpretq_u8_u32(vdupq_n_u32(four)),
            vdupq_n_u8(0x80),
        ))
    }

    /// Block `b`'s exact sums of the tile's rows and quads into its f32 sums: times the
    /// product of the two blocks' scales, one fused multiply-add.
    #[target_feature(enable = "neon")]
    #[inline]
    fn add_block<const R: usize>(
        w: &Int8Matmul,
        a_scales: &[f32],
        row: usize,
        g: usize,
        b: usize,
        exact: &[[int32x4_t; 4]; R],
        sums: &mut [[float32x4_t; 4]; R],
    ) {
        let blocks = w.k / BLOCK;
        for q in 0..4 {
            let slot = (g * blocks + b) * LANES + q * 4;
            // SAFETY: `slot + 4 <= scales.len()`.
            let scale = unsafe { vld1q_f32(w.scales.as_ptr().add(slot)) };
            for r in 0..R {
                let both = vmulq_f32(scale, vdupq_n_f32(a_scales[(row + r) * blocks + b]));
                sums[r][q] = vfmaq_f32(sums[r][q], vcvtq_f32_s32(exact[r][q]), both);
            }
        }
    }

    /// The tile's sums plus the bias into `y`.
    #[target_feature(enable = "neon")]
    fn store<const R: usize>(
        w: &Int8Matmul,
        sums: &[[float32x4_t; 4]; R],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        for r in 0..R {
            let mut lanes = [0f32; LANES];
            for q in 0..4 {
                // SAFETY: `bias` holds 16 values for every group; `lanes` holds 16 f32s.
                unsafe {
                    let bias = vld1q_f32(w.bias.as_ptr().add(g * LANES + q * 4));
                    vst1q_f32(lanes.as_mut_ptr().add(q * 4), vaddq_f32(sums[r][q], bias));
                }
            }
            let (out, cols) = y.lanes(row + r, g);
            // SAFETY: `out` holds `cols` f32s; `lanes` is a local array.
            unsafe { std::ptr::copy_nonoverlapping(lanes.as_ptr(), out, cols) };
        }
    }

    /// The dot-product kernel's tiles, by row count: with `sdot`, a quad's 16 weight bytes of
    /// a step (4 columns x 4 consecutive k) against the step's 4 activations (offset back to
    /// -127..=127) repeated give the 4 columns' exact sums of the step in one instruction.
    /// The CPU must have NEON and dotprod.
    pub const TILES_DOT: [[Tile; 1]; ROWS] = [[tile_dot::<1>], [tile_dot::<2>]];

    /// Rows `row..row + R` of the result, the 16 columns of group `g` (4 quads), with
    /// `sdot`: 8 i32 and 8 f32 accumulators for 2 rows.
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn tile_dot<const R: usize>(
        w: &Int8Matmul,
        a: &[u8],
        a_scales: &[f32],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        let mut sums = [[vdupq_n_f32(0.0); 4]; R];
        for b in 0..w.k / BLOCK {
            let mut dots = [[vdupq_n_s32(0); 4]; R];
            for step in 0..BLOCK / 4 {
                let kk = b * BLOCK + step * 4;
                let ws = step_weights(w, g, kk);
                for r in 0..R {
                    let av = step_activations(w, a, row + r, kk);
                    for q in 0..4 {
                        dots[r][q] = sdot(dots[r][q], ws[q], av);
                    }
                }
            }
            add_block(w, a_scales, row, g, b, &dots, &mut sums);
        }
        store(w, &sums, row, g, y);
    }

    /// The matrix-product kernel's tiles, by row count: with `smmla`, two rows' 8 activations
    /// at a step (offset back to -127..=127) against a column pair's 8 weights each give the
    /// 2 x 2 exact sums in one instruction. The CPU must have NEON and i8mm.
    pub const TILES_MMLA: [[Tile; 1]; ROWS] = [[tile_mmla::<1>], [tile_mmla::<2>]];

    /// Rows `row..row + R` of the result, the 16 columns of group `g` (8 column pairs),
    /// with `smmla`: 8 i32 accumulators of 2 x 2 sums, and 8 f32 ones of the rows' quads.
    #[target_feature(enable = "neon,i8mm")]
    unsafe fn tile_mmla<const R: usize>(
        w: &Int8Matmul,
        a: &[u8],
        a_scales: &[f32],
        row: usize,
        g: usize,
        y: &mut Out,
    ) {
        let packed = w.packed_mmla();
        let mut sums = [[vdupq_n_f32(0.0); 4]; R];
        for b in 0..w.k / BLOCK {
            // Pair p: [(row, 2p), (row, 2p + 1), (row + 1, 2p), (row + 1, 2p + 1)].
            let mut pairs = [vdupq_n_s32(0); 8];
            for step in 0..BLOCK / 8 {
                let kk = b * BLOCK + step * 8;
                // With one row, its activations stand in for the second row's too.
                let av = pair_activations(w, a, row, row + R - 1, kk);
                let at = mmla_index(w.k, g, kk, 0);
                for (p, pair) in pairs.iter_mut().enumerate() {
                    let wv = &packed[at + 16 * p..at + 16 * (p + 1)];
                    // SAFETY: `wv` holds 16 bytes.
                    *pair = smmla(*pair, av, unsafe { vld1q_s8(wv.as_ptr()) });
                }
            }
            // A row's quad of columns from two pairs' halves: the first row's are the low
            // 64 bits of each, the second's the high.
            let exact: [[int32x4_t; 4]; R] = std::array::from_fn(|r| {
                std::array::from_fn(|q| {
                    let (x, y) = (
                        vreinterpretq_u64_s32(pairs[2 * q]),
                        vreinterpretq_u64_s32(pairs[2 * q + 1]),
                    );
                    let quad = if r == 0 {
                        vzip1q_u64(x, y)
                    } else {
                        vzip2q_u64(x, y)
                    };
                    vreinterpretq_s32_u64(quad)
                })
            });
            add_block(w, a_scales, row, g, b, &exact, &mut sums);
        }
        store(w, &sums, row, g, y);
    }

    /// Rows `first`'s and `second`'s 8 activations at step `kk` (a 2 x 8 matrix, row-major),
    /// offset back to -127..=127.
    #[target_feature(enable = "neon")]
    #[inline]
    fn pair_activations(
        w: &Int8Matmul,
        a: &[u8],
        first: usize,
        second: usize,
        kk: usize,
    ) -> int8x16_t {
        let (at, bt) = (first * w.k + kk, second * w.k + kk);
        let mut both = [0u8; 16];
        both[..8].copy_from_slice(&a[at..at + 8]);
        both[8..].copy_from_slice(&a[bt..bt + 8]);
        // SAFETY: `both` holds 16 bytes.
        let v = unsafe { vld1q_u8(both.as_ptr()) };
        vreinterpretq_s8_u8(veorq_u8(v, vdupq_n_u8(0x80)))
    }

    /// `smmla`: `acc` (2 x 2, row-major) plus the product of `a` (2 x 8, row-major) and the
    /// transpose of `b` (2 x 8). (The intrinsic, `vmmlaq_s32`, is not in stable Rust.)
    #[target_feature(enable = "neon,i8mm")]
    #[inline]
    fn smmla(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: the instruction reads and writes these registers only.
        unsafe {
            std::arch::asm!(
                "smmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        acc
    }

    /// `sdot`: each i32 lane of `acc` plus the 4 products of its 4 bytes of `a` and `b`.
    /// (The intrinsic, `vdotq_s32`, is not in stable Rust.)
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: the instruction reads and writes these registers only.
        unsafe {
            std::arch::asm!(
                "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random-ish (n, k) matrix with some large values, as trained weights have.
    fn matrix(n: usize, k: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n * k)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let u = (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                if i % 97 == 0 {
                    u * 8.0
                } else {
                    u
                }
            })
            .collect()
    }

    /// `w` (n x k) as GGUF Q8_0 bytes, quantized as ggml does: per block of 32, the scale
    /// `max |w| / 127` in f16 and `round(w / scale)`.
    fn q8_0(w: &[f32]) -> Vec<u8> {
        let mut out = Vec::new();
        for block in w.chunks_exact(BLOCK) {
            let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            out.extend_from_slice(&half::f16::from_f32(scale).to_le_bytes());
            out.extend(block.iter().map(|v| (v * inv).round() as i8 as u8));
        }
        out
    }

    /// The weights `q8_0` bytes stand for.
    fn dequantize(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(BLOCK_BYTES)
            .flat_map(|b| {
                let scale = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
                b[2..].iter().map(move |&q| f32::from(q as i8) * scale)
            })
            .collect()
    }

    fn packed(w: &[f32], n: usize, k: usize) -> Int8Matmul {
        Int8Matmul::from_q8_0(n, k, &q8_0(w)).unwrap()
    }

    #[test]
    fn the_vector_code_gives_the_scalar_reference_s_numbers_exactly() {
        // Widths that exercise one and two column groups, padding, and 1 to 4 row tiles.
        for (m, n, k) in [
            (7, 40, 64),
            (4, 32, 32),
            (9, 9, 96),
            (1, 48, 384),
            (13, 384, 384),
        ] {
            let plain = packed(&matrix(n, k, 1), n, k);
            let bias = matrix(1, n, 7);
            let biased = plain.clone().with_bias(&bias).unwrap();
            let x = matrix(m, k, 2);
            let want = plain.matmul_with(Kernel::Scalar, &x, m);
            // The bias is added to the finished sums, as a separate addition would.
            let want_biased: Vec<f32> = want
                .iter()
                .enumerate()
                .map(|(i, y)| y + bias[i % n])
                .collect();
            assert_eq!(biased.matmul_with(Kernel::Scalar, &x, m), want_biased);
            for kernel in Kernel::supported() {
                let got = plain.matmul_with(kernel, &x, m);
                assert_eq!(got, want, "{kernel:?}: m {m} n {n} k {k}");
                let got = biased.matmul_with(kernel, &x, m);
                assert_eq!(got, want_biased, "{kernel:?} with bias: m {m} n {n} k {k}");
            }
        }
    }

    #[test]
    fn products_split_into_heads_are_the_row_major_ones_moved() {
        // 2 sequences of 5 rows, 3 heads of 32 columns: (2, 3, 5, 32).
        let (m, n, k, seq, head_dim) = (10, 96, 64, 5, 32);
        let mm = packed(&matrix(n, k, 3), n, k)
            .with_bias(&matrix(1, n, 4))
            .unwrap();
        let x = matrix(m, k, 5);
        for kernel in Kernel::supported() {
            let rows = mm.matmul_with(kernel, &x, m);
            let heads = mm.matmul_heads_with(kernel, &x, m, seq, head_dim).unwrap();
            for row in 0..m {
                for col in 0..n {
                    let (b, s, h, d) = (row / seq, row % seq, col / head_dim, col % head_dim);
                    let at = ((b * (n / head_dim) + h) * seq + s) * head_dim + d;
                    assert_eq!(heads[at], rows[row * n + col], "{kernel:?} ({row}, {col})");
                }
            }
        }
        // Heads that would split a column group, or shapes that do not divide, are refused.
        assert!(mm.matmul_heads(&x, m, seq, 24).is_none());
        assert!(mm.matmul_heads(&x, m, 3, head_dim).is_none());
        assert!(mm.matmul_heads(&x, m, seq, 64).is_none());
        assert!(mm.matmul_heads(&x, m, 0, head_dim).is_none());
    }

    /// `mm` with every other weight -128 (which Q8_0 allows, though quantizing never
    /// makes it) and the offsets that go with the packed weights.
    fn with_extreme_weights(mut mm: Int8Matmul) -> Int8Matmul {
        for (i, v) in mm.packed.iter_mut().enumerate() {
            if i % 2 == 0 {
                *v = i8::MIN;
            }
        }
        let (k, blocks) = (mm.k, mm.k / BLOCK);
        for g in 0..mm.n.div_ceil(LANES) {
            for b in 0..blocks {
                for lane in 0..LANES {
                    let sum: i32 = (b * BLOCK..(b + 1) * BLOCK)
                        .map(|kk| i32::from(mm.packed[packed_index(k, g, kk, lane)]))
                        .sum();
                    mm.offsets[(g * blocks + b) * LANES + lane] = -128 * sum;
                }
            }
        }
        mm
    }

    #[test]
    fn extreme_weights_and_activations_saturate_no_kernel() {
        let (m, n, k) = (3, 32, 64);
        // Weights of -128 beside 127 and activations of +-127: the largest products there
        // are, and pair sums that would saturate i16 with the signs on the other side.
        let w: Vec<f32> = (0..n * k)
            .map(|i| if i % 2 == 0 { -1.0 } else { 1.0 })
            .collect();
        let mm = with_extreme_weights(packed(&w, n, k));
        let x: Vec<f32> = (0..m * k)
            .map(|i| if i % 3 == 0 { -2.0 } else { 2.0 })
            .collect();
        let (mut a, mut scales) = (Vec::new(), Vec::new());
        quantize_rows(&x, m, k, &mut a, &mut scales);
        assert!(
            a.iter().all(|&q| q == 1 || q == 255),
            "activations at +-127"
        );
        let want = mm.matmul_with(Kernel::Scalar, &x, m);
        for kernel in Kernel::supported() {
            assert_eq!(mm.matmul_with(kernel, &x, m), want, "{kernel:?}");
        }
    }

    #[test]
    fn the_chosen_kernel_is_the_fastest_the_cpu_has() {
        let supported = Kernel::supported();
        assert_eq!(supported.last(), Some(&Kernel::Scalar));
        // NEON is part of every aarch64 CPU: its kernel must be among those tested.
        #[cfg(target_arch = "aarch64")]
        assert!(supported.contains(&Kernel::Neon));
        // qemu's default aarch64 CPU has the dot and matrix products: .ci/aarch64 sets this
        // so that their kernels cannot go untested there.
        #[cfg(target_arch = "aarch64")]
        if std::env::var_os("MLKIT_REQUIRE_ARM_PRODUCTS").is_some() {
            assert!(supported.contains(&Kernel::NeonDot));
            assert!(supported.contains(&Kernel::NeonMmla));
        }
        // .ci/x86-kernels hides features from this test and says which kernel must run.
        if let Ok(want) = std::env::var("MLKIT_EXPECT_INT8_KERNEL") {
            assert_eq!(Kernel::chosen().name(), want);
        }
        if std::env::var_os("MLKIT_INT8_KERNEL").is_none() {
            let want = if supported.contains(&Kernel::Avx512Vnni) {
                Kernel::Avx512Vnni
            } else if supported.contains(&Kernel::AvxVnni) {
                Kernel::AvxVnni
            } else if supported.contains(&Kernel::Avx512Bw) {
                Kernel::Avx512Bw
            } else if supported.contains(&Kernel::Avx2) {
                Kernel::Avx2
            } else if supported.contains(&Kernel::NeonMmla) {
                Kernel::NeonMmla
            } else if supported.contains(&Kernel::NeonDot) {
                Kernel::NeonDot
            } else {
                Kernel::Scalar
            };
            assert_eq!(Kernel::chosen(), want);
        }
        assert_eq!(available(), Kernel::chosen() != Kernel::Scalar);
    }

    proptest::proptest! {
        /// Any shape (row and column tails of every size), any values: the same numbers.
        #[test]
        fn any_product_is_the_scalar_reference_s(
            m in 1usize..11,
            n in 1usize..70,
            blocks in 1usize..5,
            seed in 0u32..1000,
            scale in proptest::sample::select(vec![1e-3f32, 1.0, 300.0]),
        ) {
            let k = blocks * BLOCK;
            let w: Vec<f32> = matrix(n, k, seed).iter().map(|v| v * scale).collect();
            let mm = packed(&w, n, k).with_bias(&matrix(1, n, seed + 2)).unwrap();
            let x = matrix(m, k, seed + 1);
            let want = mm.matmul_with(Kernel::Scalar, &x, m);
            for kernel in Kernel::supported() {
                let got = mm.matmul_with(kernel, &x, m);
                proptest::prop_assert_eq!(got, want.clone(), "{:?}", kernel);
            }
        }
    }

    #[test]
    fn products_are_the_dequantized_weights_products_to_within_activation_rounding() {
        let (m, n, k) = (6, 70, 128);
        let bytes = q8_0(&matrix(n, k, 3));
        let w = dequantize(&bytes);
        let x = matrix(m, k, 4);
        let got = Int8Matmul::from_q8_0(n, k, &bytes).unwrap().matmul(&x, m);
        for row in 0..m {
            let xs = &x[row * k..(row + 1) * k];
            let amax = xs.iter().fold(0f32, |a, v| a.max(v.abs()));
            for col in 0..n {
                let ws = &w[col * k..(col + 1) * k];
                let want: f32 = xs.iter().zip(ws).map(|(a, b)| a * b).sum();
                // Each activation moves by at most half a step of amax / 127.
                let bound: f32 = ws.iter().map(|v| v.abs()).sum::<f32>() * amax / 254.0;
                let diff = (got[row * n + col] - want).abs();
                assert!(
                    diff <= bound * 1.001 + 1e-5,
                    "({row}, {col}): {diff} > {bound}"
                );
            }
        }
    }

    #[test]
    fn the_vector_quantizer_gives_the_scalar_one_s_bytes() {
        // One block a row.
        let k = BLOCK;
        let mut rows = matrix(5, k, 6);
        // Row 4's scale is 1: halves round to even.
        rows[4 * k..4 * k + 5].copy_from_slice(&[127.0, 2.5, -3.5, 0.5, -0.5]);
        rows[k + 7] = f32::NAN; // a row with a NaN is all zero
        rows[2 * k..3 * k].fill(0.0);
        rows[3 * k + 1] = f32::INFINITY;
        let (mut a, mut scales) = (vec![7; 3], vec![9.0; 1]);
        quantize_rows(&rows, 5, k, &mut a, &mut scales);
        // Every quantizer this CPU has gives the same bytes and scales, tiny blocks too (a
        // scale whose inverse is infinite).
        let mut odd = matrix(7, k, 9);
        odd[5 * k..6 * k].fill(1e-39);
        odd[6 * k + 3] = -3e-45;
        #[cfg(target_arch = "aarch64")]
        assert!(Quantizer::supported().contains(&Quantizer::Neon));
        for quantizer in Quantizer::supported() {
            for x in [&rows, &odd] {
                let m = x.len() / k;
                let (mut want_a, mut want_s) = (vec![0; m * k], vec![0.0; m]);
                quantize_blocks_with(Quantizer::Scalar, x, &mut want_a, &mut want_s);
                let (mut got_a, mut got_s) = (vec![0; m * k], vec![0.0; m]);
                quantize_blocks_with(quantizer, x, &mut got_a, &mut got_s);
                assert_eq!(got_a, want_a, "{quantizer:?}");
                let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got_s), bits(&want_s), "{quantizer:?}");
            }
        }
        // The AVX2 and AVX-512BW kernels' i16 activations: the same values less 128.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            for x in [&rows, &odd] {
                let m = x.len() / k;
                let (mut want_a, mut want_s) = (vec![0; m * k], vec![0.0; m]);
                quantize_blocks_with(Quantizer::Scalar, x, &mut want_a, &mut want_s);
                let (mut wide, mut got_s) = (vec![0i16; m * k], vec![0.0; m]);
                // SAFETY: the CPU has AVX2; the sizes are whole blocks.
                unsafe { avx2::quantize_blocks_wide(x, &mut wide, &mut got_s) };
                let want: Vec<i16> = want_a.iter().map(|&q| i16::from(q) - 128).collect();
                assert_eq!(wide, want);
                let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got_s), bits(&want_s));
            }
        }
        for (row, xs) in rows.chunks_exact(k).enumerate() {
            let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
            if row == 0 || row == 4 {
                assert_eq!(scales[row], amax / 127.0);
                let inv = 1.0 / scales[row];
                for (q, v) in a[row * k..(row + 1) * k].iter().zip(xs) {
                    let want = (v * inv).round_ties_even() as i32 + 128;
                    assert_eq!(i32::from(*q), want, "row {row}: {v}");
                }
                if row == 4 {
                    assert_eq!(a[4 * k..4 * k + 5], [255, 130, 124, 128, 128]);
                }
            } else {
                assert_eq!(scales[row], 0.0, "row {row}");
                assert!(a[row * k..(row + 1) * k].iter().all(|&q| q == 128));
            }
        }
    }

    #[test]
    fn zero_rows_give_zeros_and_bad_sizes_are_refused() {
        let (n, k) = (16, 32);
        let mm = packed(&matrix(n, k, 5), n, k);
        assert_eq!(mm.matmul(&vec![0.0; 2 * k], 2), vec![0.0; 2 * n]);
        let bytes = q8_0(&matrix(n, k, 5));
        assert!(matches!(
            Int8Matmul::from_q8_0(n, 33, &bytes),
            Err(Int8Error::Width(33))
        ));
        assert!(matches!(
            Int8Matmul::from_q8_0(n + 1, k, &bytes),
            Err(Int8Error::Size { .. })
        ));
        assert!(Int8Matmul::from_q8_0(usize::MAX / 2, 64, &bytes).is_err());
        assert!(matches!(
            mm.with_bias(&[0.0; 15]),
            Err(Int8Error::Bias { n: 16, got: 15 })
        ));
    }
}
