//! Features cut into at most 255 bins before training, as LightGBM and scikit-learn's
//! HistGradientBoosting do: a split search then reads one byte per row and fills a histogram
//! instead of sorting the node's values for every feature it tries.
//!
//! A feature with at most `max_bins` distinct values gets one bin per value, so its splits
//! are exactly those of the sorted search (midpoints between neighbouring values); a feature
//! with more is cut at quantiles of its values. Each bin boundary is kept as a raw threshold,
//! so a tree stores ordinary `x <= threshold` tests and prediction never needs the bins.

/// The code of a missing value (NaN): above every bin, so missing values go right.
pub const MISSING: u8 = u8::MAX;

/// The most bins a feature can have (codes 0..=254; 255 is [`MISSING`]).
pub const MAX_BINS: usize = 255;

pub struct Bins {
    /// `codes[f][row]`: the row's bin of feature f, or [`MISSING`].
    pub codes: Vec<Vec<u8>>,
    /// `edges[f][b]`: the threshold that sends bins `0..=b` left (`x <= edge`); one fewer
    /// than the feature's bins.
    pub edges: Vec<Vec<f32>>,
}

impl Bins {
    pub fn new(columns: &[Vec<f32>], max_bins: usize) -> Bins {
        let max_bins = max_bins.clamp(2, MAX_BINS);
        let edges: Vec<Vec<f32>> = columns.iter().map(|c| edges(c, max_bins)).collect();
        let codes = columns
            .iter()
            .zip(&edges)
            .map(|(column, e)| column.iter().map(|&x| code(e, x)).collect())
            .collect();
        Bins { codes, edges }
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
/// scikit-learn's trees do) when there are few enough; else midpoint quantiles.
fn edges(column: &[f32], max_bins: usize) -> Vec<f32> {
    let mut values: Vec<f32> = column.iter().copied().filter(|x| !x.is_nan()).collect();
    values.sort_by(f32::total_cmp);
    let mut distinct = values.clone();
    distinct.dedup();
    let mut edges: Vec<f32> = if distinct.len() <= max_bins {
        distinct.windows(2).map(|w| midpoint(w[0], w[1])).collect()
    } else {
        let last = (values.len() - 1) as f64;
        (1..max_bins)
            .map(|i| {
                let at = i as f64 / max_bins as f64 * last;
                midpoint(values[at.floor() as usize], values[at.ceil() as usize])
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
        let bins = Bins::new(std::slice::from_ref(&column), 255);
        assert_eq!(bins.edges[0], [1.5, 2.5]);
        assert_eq!(bins.codes[0], [2, 0, MISSING, 1, 2, 0]);
        assert_eq!(bins.threshold(0, 2), f32::INFINITY);
    }

    #[test]
    fn many_values_are_cut_at_quantiles() {
        let column: Vec<f32> = (0..10_000).map(|i| (i % 1000) as f32).collect();
        let bins = Bins::new(std::slice::from_ref(&column), 10);
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
}
