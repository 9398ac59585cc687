//! Probability calibration with scikit-learn's CalibratedClassifierCV semantics (ensemble):
//! the training rows are cut into stratified folds; for each fold a forest is trained on the
//! other folds, and one calibrator per class (one for the second class when there are two)
//! maps that forest's leaf probabilities on the held-out fold to the truth, one class against
//! the rest. A prediction calibrates each fold's probabilities, renormalises the row, and
//! averages over the folds.

use serde::{Deserialize, Serialize};

use crate::{ForestError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Method {
    /// Platt scaling: a logistic curve through the scores.
    Sigmoid,
    /// A non-decreasing step function fitted by pool-adjacent-violators, interpolated.
    Isotonic,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Calibrator {
    /// p = 1 / (1 + exp(a * score + b))
    Sigmoid { a: f64, b: f64 },
    /// Linear interpolation through (x, y), x strictly increasing; clipped outside.
    Isotonic { x: Vec<f64>, y: Vec<f64> },
}

impl Calibrator {
    /// Fits `method` to scores and one-against-the-rest outcomes.
    pub fn fit(method: Method, score: &[f64], positive: &[bool]) -> Calibrator {
        match method {
            Method::Sigmoid => sigmoid(score, positive),
            Method::Isotonic => isotonic(score, positive),
        }
    }

    pub fn apply(&self, score: f64) -> f64 {
        match self {
            Calibrator::Sigmoid { a, b } => 1.0 / (1.0 + (a * score + b).exp()),
            Calibrator::Isotonic { x, y } => {
                let i = x.partition_point(|&v| v < score);
                if i == 0 {
                    y[0]
                } else if i == x.len() {
                    y[x.len() - 1]
                } else {
                    let t = (score - x[i - 1]) / (x[i] - x[i - 1]);
                    y[i - 1] + t * (y[i] - y[i - 1])
                }
            }
        }
    }

    /// Checks a calibrator read from a file can be applied.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            Calibrator::Sigmoid { a, b } if a.is_finite() && b.is_finite() => Ok(()),
            Calibrator::Isotonic { x, y }
                if !x.is_empty()
                    && x.len() == y.len()
                    && x.windows(2).all(|w| w[0] < w[1])
                    && y.iter().all(|v| v.is_finite()) =>
            {
                Ok(())
            }
            _ => Err("malformed calibrator".into()),
        }
    }
}

/// One fold's forest (a run of the model's trees) and its calibrators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fold {
    /// How many of the model's trees, after the previous folds', belong to this fold.
    pub trees: usize,
    /// One per class; one (for the second class) when there are two classes.
    pub calibrators: Vec<Calibrator>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub method: Method,
    pub folds: Vec<Fold>,
}

impl Calibration {
    /// Calibrated probabilities from one fold's leaf probabilities (scikit-learn's
    /// _CalibratedClassifier.predict_proba).
    pub fn fold_proba(fold: &Fold, proba: &[f64]) -> Vec<f64> {
        let k = proba.len();
        if k == 2 {
            let p1 = clip_one(fold.calibrators[0].apply(proba[1]));
            return vec![1.0 - p1, p1];
        }
        let mut p: Vec<f64> = fold
            .calibrators
            .iter()
            .zip(proba)
            .map(|(c, &x)| c.apply(x))
            .collect();
        let sum: f64 = p.iter().sum();
        if sum == 0.0 {
            p.fill(1.0 / k as f64);
        } else {
            p.iter_mut().for_each(|x| *x = clip_one(*x / sum));
        }
        p
    }
}

/// scikit-learn rounds probabilities a hair above 1 down to 1.
fn clip_one(p: f64) -> f64 {
    if p > 1.0 && p <= 1.0 + 1e-5 {
        1.0
    } else {
        p
    }
}

/// scikit-learn's StratifiedKFold(n_splits) without shuffling: classes numbered by first
/// appearance, the sorted labels dealt round-robin to decide how many rows of each class
/// each fold gets, then each class's rows given out in order. Returns each row's fold.
pub fn stratified_folds(target: &[usize], n_splits: usize) -> Result<Vec<usize>> {
    let n_classes = target.iter().max().map_or(0, |m| m + 1);
    // Class numbers by first appearance.
    let mut order = vec![usize::MAX; n_classes];
    let mut seen = 0;
    for &t in target {
        if order[t] == usize::MAX {
            order[t] = seen;
            seen += 1;
        }
    }
    let encoded: Vec<usize> = target.iter().map(|&t| order[t]).collect();
    let mut counts = vec![0usize; seen];
    for &e in &encoded {
        counts[e] += 1;
    }
    if let Some(min) = counts.iter().copied().min().filter(|&m| m < n_splits) {
        return Err(ForestError::Usage(format!(
            "{n_splits} calibration folds: a class has only {min} rows; each class needs at least {n_splits} (use fewer folds)"
        )));
    }
    let mut sorted = encoded.clone();
    sorted.sort_unstable();
    // allocation[fold][class]
    let mut allocation = vec![vec![0usize; seen]; n_splits];
    for (i, &c) in sorted.iter().enumerate() {
        allocation[i % n_splits][c] += 1;
    }
    let mut next: Vec<(usize, usize)> = vec![(0, 0); seen]; // (fold, given to it so far)
    let mut folds = vec![0; target.len()];
    for (row, &c) in encoded.iter().enumerate() {
        let (fold, given) = &mut next[c];
        while *given == allocation[*fold][c] {
            *fold += 1;
            *given = 0;
        }
        folds[row] = *fold;
        *given += 1;
    }
    Ok(folds)
}

/// Platt scaling as scikit-learn's _sigmoid_calibration: targets smoothed by the Bayesian
/// prior, (a, b) minimising the log loss (Newton steps with backtracking; the loss is convex,
/// so this finds the optimum scikit-learn's L-BFGS finds).
fn sigmoid(score: &[f64], positive: &[bool]) -> Calibrator {
    let prior1 = positive.iter().filter(|&&p| p).count() as f64;
    let prior0 = positive.len() as f64 - prior1;
    let t_pos = (prior1 + 1.0) / (prior1 + 2.0);
    let t_neg = 1.0 / (prior0 + 2.0);
    let target: Vec<f64> = positive
        .iter()
        .map(|&p| if p { t_pos } else { t_neg })
        .collect();
    // Loss of p = 1 / (1 + exp(a f + b)) against t, written with raw = -(a f + b).
    let loss = |a: f64, b: f64| -> f64 {
        score
            .iter()
            .zip(&target)
            .map(|(&f, &t)| {
                let raw = -(a * f + b);
                softplus(raw) - t * raw
            })
            .sum()
    };
    let (mut a, mut b) = (0.0, ((prior0 + 1.0) / (prior1 + 1.0)).ln());
    let mut current = loss(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&f, &t) in score.iter().zip(&target) {
            let p = 1.0 / (1.0 + (a * f + b).exp());
            let d = p - t; // d loss / d raw
            let w = p * (1.0 - p);
            ga -= d * f;
            gb -= d;
            haa += w * f * f;
            hab += w * f;
            hbb += w;
        }
        if ga.abs().max(gb.abs()) < 1e-10 {
            break;
        }
        let (haa, hbb) = (haa + 1e-12, hbb + 1e-12);
        let det = haa * hbb - hab * hab;
        let (da, db) = if det > 0.0 {
            ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det)
        } else {
            (ga, gb)
        };
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-10 {
            let (na, nb) = (a - step * da, b - step * db);
            let next = loss(na, nb);
            if next <= current {
                (a, b, current, improved) = (na, nb, next, true);
                break;
            }
            step /= 2.0;
        }
        if !improved {
            break;
        }
    }
    Calibrator::Sigmoid { a, b }
}

fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// scikit-learn's IsotonicRegression(out_of_bounds="clip"), increasing: equal scores merged
/// (mean outcome, weight = count), pool-adjacent-violators, then the points kept where the
/// fitted value changes.
fn isotonic(score: &[f64], positive: &[bool]) -> Calibrator {
    let mut pairs: Vec<(f64, f64)> = score
        .iter()
        .zip(positive)
        .map(|(&s, &p)| (s, f64::from(u8::from(p))))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // (x, mean y, weight) per distinct score
    let mut points: Vec<(f64, f64, f64)> = Vec::new();
    for (x, y) in pairs {
        match points.last_mut() {
            Some(last) if last.0 == x => {
                last.1 += y;
                last.2 += 1.0;
            }
            _ => points.push((x, y, 1.0)),
        }
    }
    // Pool adjacent violators over blocks of (sum of y, weight, points in the block).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for &(_, sum, w) in &points {
        blocks.push((sum, w, 1));
        while blocks.len() > 1 {
            let (s2, w2, n2) = blocks[blocks.len() - 1];
            let (s1, w1, n1) = blocks[blocks.len() - 2];
            if s1 / w1 <= s2 / w2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (s1 + s2, w1 + w2, n1 + n2);
        }
    }
    let fitted: Vec<f64> = blocks
        .iter()
        .flat_map(|&(s, w, n)| std::iter::repeat_n(s / w, n))
        .collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..points.len() {
        let inner = i > 0 && i + 1 < points.len();
        if inner && fitted[i] == fitted[i - 1] && fitted[i] == fitted[i + 1] {
            continue;
        }
        x.push(points[i].0);
        y.push(fitted[i]);
    }
    Calibrator::Isotonic { x, y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_match_scikit_learn() {
        // StratifiedKFold(3).split(X, y) for y = [2, 0, 0, 1, 2, 0, 1, 2, 0, 1, 0]
        // gives test folds [0, 0, 0, 0, 1, 1, 1, 2, 1, 2, 2].
        let y = [2, 0, 0, 1, 2, 0, 1, 2, 0, 1, 0];
        assert_eq!(
            stratified_folds(&y, 3).unwrap(),
            [0, 0, 0, 0, 1, 1, 1, 2, 1, 2, 2]
        );
        assert!(stratified_folds(&[0, 0, 1], 2).is_err());
    }

    #[test]
    fn isotonic_pools_violators_and_interpolates() {
        let score = [0.1, 0.2, 0.2, 0.3, 0.4, 0.5];
        let positive = [false, true, false, false, true, true];
        let c = Calibrator::fit(Method::Isotonic, &score, &positive);
        // 0.2 merges to 0.5, then pools with 0.3's 0: (1 + 0) / 3 over x = 0.2, 0.3.
        let Calibrator::Isotonic { x, y } = &c else {
            panic!()
        };
        assert_eq!(x, &[0.1, 0.2, 0.3, 0.4, 0.5]);
        let want = [0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0, 1.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{y:?}");
        }
        assert_eq!(c.apply(0.0), 0.0);
        assert!((c.apply(0.35) - (1.0 / 3.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
        assert_eq!(c.apply(9.0), 1.0);
    }

    #[test]
    fn sigmoid_reaches_the_stationary_point() {
        let score: Vec<f64> = (0..50).map(|i| i as f64 / 49.0).collect();
        let positive: Vec<bool> = (0..50).map(|i| (i * 7) % 10 < i / 5).collect();
        let Calibrator::Sigmoid { a, b } = Calibrator::fit(Method::Sigmoid, &score, &positive)
        else {
            panic!()
        };
        // The gradient of the smoothed log loss vanishes at (a, b).
        let prior1 = positive.iter().filter(|&&p| p).count() as f64;
        let prior0 = 50.0 - prior1;
        let (mut ga, mut gb) = (0.0, 0.0);
        for (&f, &p) in score.iter().zip(&positive) {
            let t = if p {
                (prior1 + 1.0) / (prior1 + 2.0)
            } else {
                1.0 / (prior0 + 2.0)
            };
            let q = 1.0 / (1.0 + (a * f + b).exp());
            ga += (q - t) * f;
            gb += q - t;
        }
        assert!(ga.abs() < 1e-8 && gb.abs() < 1e-8, "{ga} {gb}");
        assert!(a < 0.0, "more positives at higher scores: {a}");
    }
}
