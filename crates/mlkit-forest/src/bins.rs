//! Features cut into at most 255 bins before training, as LightGBM and scikit-learn's
//! HistGradientBoosting do: a split search then reads one byte per row and fills a histogram
//! instead of sorting the node's values for every feature it tries.
//!
//! A feature with at most `max_bins` distinct values gets one bin per value, so its splits
//! are exactly those of the sorted search (midpoints between neighbouring values); a feature
//! with more is cut at quantiles of its values. Each bin boundary is kept as a raw threshold,
//! so a tree stores ordinary `x <= threshold` tests and prediction never needs the bins.
//!
//! A sparse column's implicit zeros count as values like any other, but get no code each:
//! the column keeps one code per stored value and one for all its zeros.

use crate::matrix::{Column, Matrix};

/// The code of a missing value (NaN): above every bin, so missing values go right.
pub const MISSING: u8 = u8::MAX;

/// The most bins a feature can have (codes 0..=254; 255 is [`MISSING`]).
pub const MAX_BINS: usize = 255;

pub struct Bins {
    /// `codes[f][row]`: the row's bin of feature f, or [`MISSING`]; for a sparse column,
    /// the bin of each stored value, in the column's order.
    pub codes: Vec<Vec<u8>>,
    /// `zero[f]`: the bin of a sparse column's implicit zeros.
    pub zero: Vec<u8>,
    /// `edges[f][b]`: the threshold that sends bins `0..=b` left (`x <= edge`); one fewer
    /// than the feature's bins.
    pub edges: Vec<Vec<f32>>,
}

impl Bins {
    pub fn new(matrix: &Matrix, max_bins: usize) -> Bins {
        let max_bins = max_bins.clamp(2, MAX_BINS);
        let (mut codes, mut zero, mut all_edges) = (Vec::new(), Vec::new(), Vec::new());
        for column in matrix.columns() {
            let (values, zeros) = match column {
                Column::Dense(v) => (v, 0),
                Column::Sparse(s) => (&s.values, matrix.rows() - s.values.len()),
            };
            let e = edges(values, zeros, max_bins);
            codes.push(values.iter().map(|&x| code(&e, x)).collect());
            zero.push(code(&e, 0.0));
            all_edges.push(e);
        }
        Bins {
            codes,
            zero,
            edges: all_edges,
        }
    }

    /// The raw threshold of a split after bin `b` of feature `f`: everything finite goes left
    /// when `b` is the last bin.
    pub fn threshold(&self, f: usize, b: u8) -> f32 {
        self.edges[f]
            .get(b as usize)
            .copied()
            .unwrap_or(f32::INFINITY)
    }
}

/// The bin of `x`: how many edges lie below it, so `x <= edges[b]` exactly when the code is at
/// most `b`.
fn code(edges: &[f32], x: f32) -> u8 {
    if x.is_nan() {
        MISSING
    } else {
        edges.partition_point(|&e| e < x) as u8
    }
}

/// Midpoints between neighbouring distinct values (kept below the upper one, as
/// scikit-learn's trees do) when there are few enough; else midpoint quantiles. The values
/// are `column` and `zeros` more zeros (a sparse column's implicit ones).
fn edges(column: &[f32], zeros: usize, max_bins: usize) -> Vec<f32> {
    let mut values: Vec<f32> = column.iter().copied().filter(|x| !x.is_nan()).collect();
    values.sort_by(f32::total_cmp);
    let mut distinct = values.clone();
    if zeros > 0 {
        let at = distinct.partition_point(|&x| x < 0.0);
        distinct.insert(at, 0.0);
    }
    distinct.dedup();
    // The sorted values with the zeros in their place, by position.
    let negative = values.partition_point(|&x| x < 0.0);
    let at = |i: usize| {
        if i < negative {
            values[i]
        } else if i < negative + zeros {
            0.0
        } else {
            values[i - zeros]
        }
    };
    let mut edges: Vec<f32> = if distinct.len() <= max_bins {
        distinct.windows(2).map(|w| midpoint(w[0], w[1])).collect()
    } else {
        let last = (values.len() + zeros - 1) as f64;
        (1..max_bins)
            .map(|i| {
                let pos = i as f64 / max_bins as f64 * last;
                midpoint(at(pos.floor() as usize), at(pos.ceil() as usize))
            })
            .collect()
    };
    edges.dedup();
    edges
}

fn midpoint(lo: f32, hi: f32) -> f32 {
    let m = ((lo as f64 + hi as f64) / 2.0) as f32;
    if m >= hi {
        lo
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_a_bin_each_and_codes_agree_with_thresholds() {
        let column = vec![3.0, 1.0, f32::NAN, 2.0, 3.0, 1.0];
        let bins = Bins::new(&Matrix::dense(vec![column]).unwrap(), 255);
        assert_eq!(bins.edges[0], [1.5, 2.5]);
        assert_eq!(bins.codes[0], [2, 0, MISSING, 1, 2, 0]);
        assert_eq!(bins.threshold(0, 2), f32::INFINITY);
    }

    #[test]
    fn many_values_are_cut_at_quantiles() {
        let column: Vec<f32> = (0..10_000).map(|i| (i % 1000) as f32).collect();
        let bins = Bins::new(&Matrix::dense(vec![column.clone()]).unwrap(), 10);
        assert_eq!(bins.edges[0].len(), 9);
        let mut per_bin = [0usize; 10];
        for (&x, &c) in column.iter().zip(&bins.codes[0]) {
            per_bin[c as usize] += 1;
            // The code says which side of every edge the raw value lies.
            for (b, &e) in bins.edges[0].iter().enumerate() {
                assert_eq!(x <= e, c as usize <= b);
            }
        }
        assert!(
            per_bin.iter().all(|&n| (900..=1100).contains(&n)),
            "{per_bin:?}"
        );
    }

    #[test]
    fn a_sparse_column_bins_as_its_dense_twin() {
        use crate::matrix::SparseColumn;
        // Few distinct values, and many (quantile bins), with negatives around the zeros.
        for distinct in [5usize, 700] {
            let dense: Vec<f32> = (0..3000)
                .map(|i| match i % 3 {
                    0 => 0.0,
                    1 => (i % distinct) as f32 + 1.0,
                    _ => -((i % 7) as f32) - 0.5,
                })
                .collect();
            let (rows, values): (Vec<u32>, Vec<f32>) = dense
                .iter()
                .enumerate()
                .filter(|(_, &x)| x != 0.0)
                .map(|(r, &x)| (r as u32, x))
                .unzip();
            let sparse = Matrix::new(
                dense.len(),
                vec![Column::Sparse(SparseColumn {
                    rows: rows.clone(),
                    values,
                })],
            )
            .unwrap();
            let a = Bins::new(&Matrix::dense(vec![dense.clone()]).unwrap(), 32);
            let b = Bins::new(&sparse, 32);
            assert_eq!(a.edges, b.edges);
            for (e, &r) in rows.iter().enumerate() {
                assert_eq!(b.codes[0][e], a.codes[0][r as usize]);
            }
            assert_eq!(b.zero[0], a.codes[0][0]);
        }
    }
}
