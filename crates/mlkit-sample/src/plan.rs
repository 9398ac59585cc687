//! Which rows each group contributes, drawing random numbers exactly as pandas does.

use crate::numpy_random::{numpy_sum, ChoiceError, RandomState};
use crate::{Compat, SampleError, SampleOptions, SampleSize};

/// One group as the planner sees it: its size and, when sampling by weight, its weights
/// in row order.
pub(crate) struct GroupInput<'a> {
    pub name: &'a str,
    pub rows: usize,
    pub weights: Option<&'a [f64]>,
}

/// The most rows one sample drawn with replacement may hold (without replacement, the input
/// bounds it): mlkit keeps about 24 bytes of bookkeeping per drawn row, so this is some 6 GB,
/// a quarter of this project's machines.
pub const MAX_SAMPLE_ROWS: usize = 1 << 28;

/// The error for a sample larger than `MAX_SAMPLE_ROWS` (`requested` may be far larger than
/// any usize: a frac of 1e308).
fn too_large(requested: f64) -> SampleError {
    SampleError::Size(format!(
        "a sample of {requested:.0} rows is more than the {MAX_SAMPLE_ROWS} rows mlkit \
         draws in one run"
    ))
}

/// How many rows a group of `rows` rows gives: pandas' rule, then mlkit's extensions. With
/// replacement, where any size could be asked for, more than `MAX_SAMPLE_ROWS` is an error.
pub(crate) fn group_sample_size(opts: &SampleOptions, rows: usize) -> Result<usize, SampleError> {
    let base = match opts.size {
        SampleSize::Count(n) => n as f64,
        // Python's round(): ties to even, on the float product.
        SampleSize::Frac(f) => (f * rows as f64).round_ties_even(),
    };
    if opts.replace {
        let asked = base.max(opts.min_per_group.unwrap_or(0) as f64);
        if asked > MAX_SAMPLE_ROWS as f64 {
            return Err(too_large(asked));
        }
    }
    // Without replacement, more than `rows` is refused by the draw, which names the group.
    // A count stays exact (through f64 a huge one would be misquoted in that message).
    let base = match opts.size {
        SampleSize::Count(n) => n,
        SampleSize::Frac(_) => base as usize,
    };
    let mut size = base;
    if let Some(k) = opts.min_per_group {
        size = size.max(if opts.replace { k } else { k.min(rows) });
    }
    if opts.cap && !opts.replace {
        size = size.min(rows);
    }
    Ok(size)
}

/// Draws every group's sample, in the order pandas returns rows: group after group, and
/// within a group in the order drawn. Each inner vector holds indices local to its group.
pub(crate) fn draw(
    groups: &[GroupInput<'_>],
    opts: &SampleOptions,
) -> Result<Vec<Vec<usize>>, SampleError> {
    // groupby.sample walks the groups with one generator; the notes' apply recipe seeds a
    // fresh one for each group.
    let sizes = groups
        .iter()
        .map(|g| group_sample_size(opts, g.rows))
        .collect::<Result<Vec<usize>, _>>()?;
    let total: f64 = sizes.iter().map(|&n| n as f64).sum();
    if opts.replace && total > MAX_SAMPLE_ROWS as f64 {
        return Err(too_large(total));
    }
    let mut shared = RandomState::new(opts.seed);
    groups
        .iter()
        .zip(sizes)
        .map(|(g, size)| {
            let mut fresh;
            let rs = match opts.compat {
                Compat::GroupBy => &mut shared,
                Compat::Apply => {
                    fresh = RandomState::new(opts.seed);
                    &mut fresh
                }
            };
            draw_group(rs, g, size, opts.replace)
        })
        .collect()
}

/// `pandas.core.sample.sample` for one group.
fn draw_group(
    rs: &mut RandomState,
    g: &GroupInput<'_>,
    size: usize,
    replace: bool,
) -> Result<Vec<usize>, SampleError> {
    let p = match g.weights {
        None => None,
        Some(w) => {
            let total = numpy_sum(w);
            if total.is_infinite() {
                return Err(SampleError::WeightsOverflow {
                    group: g.name.to_string(),
                });
            }
            if total == 0.0 {
                return Err(SampleError::ZeroWeights {
                    group: g.name.to_string(),
                });
            }
            Some(w.iter().map(|x| x / total).collect::<Vec<f64>>())
        }
    };
    rs.choice(g.rows, size, replace, p.as_deref())
        .map_err(|e| match e {
            ChoiceError::LargerThanPopulation | ChoiceError::EmptyPopulation => {
                SampleError::TooFewRows {
                    group: g.name.to_string(),
                    rows: g.rows,
                    requested: size,
                }
            }
            ChoiceError::FewerNonZero => SampleError::TooFewWeighted {
                group: g.name.to_string(),
                nonzero: g
                    .weights
                    .map_or(0, |w| w.iter().filter(|&&x| x > 0.0).count()),
                requested: size,
            },
        })
}
