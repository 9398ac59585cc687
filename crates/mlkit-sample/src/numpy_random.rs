//! numpy's legacy `RandomState`, bit for bit, for the calls pandas' `sample` makes.
//!
//! pandas turns `random_state=S` into `np.random.RandomState(S)`: MT19937 seeded with
//! `init_genrand`, and then uses `choice`, `permutation`, `randint` and `random_sample`.
//! Each function here names the numpy routine it reproduces; any change in the order or
//! number of 32-bit draws breaks parity, so the draw pattern is part of the contract.

const STATE_LEN: usize = 624;
const SHIFT: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The Mersenne Twister MT19937 as numpy's `mt19937.c` implements it.
#[derive(Clone)]
pub struct Mt19937 {
    key: [u32; STATE_LEN],
    pos: usize,
}

impl Mt19937 {
    /// `mt19937_seed` (Matsumoto and Nishimura's `init_genrand`).
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; STATE_LEN];
        let mut s = seed;
        for (pos, slot) in key.iter_mut().enumerate() {
            *slot = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        Mt19937 {
            key,
            pos: STATE_LEN,
        }
    }

    fn regenerate(&mut self) {
        let mag = |y: u32| if y & 1 == 1 { MATRIX_A } else { 0 };
        for i in 0..STATE_LEN {
            let y = (self.key[i] & UPPER_MASK) | (self.key[(i + 1) % STATE_LEN] & LOWER_MASK);
            self.key[i] = self.key[(i + SHIFT) % STATE_LEN] ^ (y >> 1) ^ mag(y);
        }
        self.pos = 0;
    }

    /// `mt19937_next32`.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos == STATE_LEN {
            self.regenerate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
}

/// The subset of `numpy.random.RandomState` that `pandas.DataFrame.sample` and
/// `DataFrameGroupBy.sample` use.
#[derive(Clone)]
pub struct RandomState {
    mt: Mt19937,
}

impl RandomState {
    pub fn new(seed: u32) -> Self {
        RandomState {
            mt: Mt19937::new(seed),
        }
    }

    fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.mt.next_u32());
        let lo = u64::from(self.mt.next_u32());
        (hi << 32) | lo
    }

    /// `mt19937_next_double`: 53 random bits from two draws, in [0, 1).
    pub fn random_sample(&mut self) -> f64 {
        let a = f64::from(self.mt.next_u32() >> 5);
        let b = f64::from(self.mt.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `random_interval`: uniform in [0, max] by masked rejection. Also what
    /// `randint(0, max + 1)` draws with legacy `_masked=True` bounded integers.
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        if max <= u64::from(u32::MAX) {
            loop {
                let v = u64::from(self.mt.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let v = self.next_u64() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `permutation(n)[:size]`: numpy shuffles all of `arange(n)` (Fisher-Yates from the
    /// back), so every call costs n - 1 draws however small `size` is.
    pub fn permutation_prefix(&mut self, n: usize, size: usize) -> Vec<usize> {
        // u32 halves the transient memory of the permutation for the common case.
        if n <= u32::MAX as usize {
            let mut a: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                let j = self.interval(i as u64) as usize;
                a.swap(i, j);
            }
            a.truncate(size);
            a.into_iter().map(|v| v as usize).collect()
        } else {
            let mut a: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                let j = self.interval(i as u64) as usize;
                a.swap(i, j);
            }
            a.truncate(size);
            a
        }
    }

    /// `randint(0, n, size)` for int64 output.
    pub fn randint(&mut self, n: usize, size: usize) -> Vec<usize> {
        (0..size)
            .map(|_| self.interval(n as u64 - 1) as usize)
            .collect()
    }
}

/// numpy's `pairwise_sum` for float64, as `ndarray.sum()` on a contiguous array uses it:
/// the exact rounding of the weight total decides which rows weighted sampling picks.
pub fn numpy_sum(a: &[f64]) -> f64 {
    0.0 + pairwise_sum(a)
}

fn pairwise_sum(a: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = a.len();
    if n < 8 {
        let mut res = -0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= BLOCK {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.searchsorted(cdf, x, side='right')`: the number of entries <= x.
fn search_right(cdf: &[f64], x: f64) -> usize {
    cdf.partition_point(|&c| c <= x)
}

/// `np.cumsum(p)` followed by `cdf /= cdf[-1]`.
fn normalised_cdf(p: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = p
        .iter()
        .map(|&x| {
            acc += x;
            acc
        })
        .collect();
    if let Some(&last) = cdf.last() {
        for c in &mut cdf {
            *c /= last;
        }
    }
    cdf
}

/// Why `RandomState.choice` refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChoiceError {
    /// More draws than the population without replacement.
    LargerThanPopulation,
    /// Without replacement, fewer rows with non-zero probability than draws.
    FewerNonZero,
    /// Draws requested from an empty population.
    EmptyPopulation,
}

impl RandomState {
    /// `RandomState.choice(pop, size, replace, p)`. `p` must already be normalised as
    /// pandas does (`weights / weights.sum()`).
    pub fn choice(
        &mut self,
        pop: usize,
        size: usize,
        replace: bool,
        p: Option<&[f64]>,
    ) -> Result<Vec<usize>, ChoiceError> {
        if pop == 0 && size > 0 {
            return Err(ChoiceError::EmptyPopulation);
        }
        if replace {
            return Ok(match p {
                Some(p) => {
                    let cdf = normalised_cdf(p);
                    (0..size)
                        .map(|_| search_right(&cdf, self.random_sample()))
                        .collect()
                }
                None => self.randint(pop, size),
            });
        }
        if size > pop {
            return Err(ChoiceError::LargerThanPopulation);
        }
        let Some(p) = p else {
            return Ok(self.permutation_prefix(pop, size));
        };
        if p.iter().filter(|&&x| x > 0.0).count() < size {
            return Err(ChoiceError::FewerNonZero);
        }
        // numpy's loop: draw the missing count, keep first occurrences of new indices,
        // zero the found ones and draw again.
        let mut p = p.to_vec();
        let mut found: Vec<usize> = Vec::with_capacity(size);
        let mut seen = vec![false; pop];
        while found.len() < size {
            let want = size - found.len();
            let x: Vec<f64> = (0..want).map(|_| self.random_sample()).collect();
            for &f in &found {
                p[f] = 0.0;
            }
            let cdf = normalised_cdf(&p);
            let mut fresh = Vec::new();
            let mut in_this_round = rustc_hash::FxHashSet::default();
            for xi in x {
                let idx = search_right(&cdf, xi);
                if in_this_round.insert(idx) {
                    fresh.push(idx);
                }
            }
            for idx in fresh {
                // A zeroed index cannot be drawn again, so `seen` only guards the invariant.
                if !seen[idx] {
                    seen[idx] = true;
                    found.push(idx);
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_reference_outputs() {
        // First outputs of init_genrand(5489), the reference implementation's default seed.
        let mut mt = Mt19937::new(5489);
        let first: Vec<u32> = (0..3).map(|_| mt.next_u32()).collect();
        assert_eq!(first, vec![3_499_211_612, 581_869_302, 3_890_346_734]);
    }

    #[test]
    fn pairwise_sum_small_is_sequential() {
        assert_eq!(numpy_sum(&[0.1, 0.2, 0.3]), 0.1 + 0.2 + 0.3);
        assert_eq!(numpy_sum(&[]), 0.0);
    }
}
