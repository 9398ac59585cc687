//! mlkit-metrics: Accuracy, macro-F1 and the confusion matrix, as scikit-learn's accuracy_score,
//! f1_score(average="macro") and confusion_matrix compute them over the gold and predicted
//! labels' union.

use std::collections::BTreeSet;

/// numpy's argmax: the index of the first of equal maxima (0 for an empty slice).
pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Precision, recall and F1 from counts, 0 where a ratio is undefined (as scikit-learn and
/// seqeval report them).
pub fn precision_recall_f1(correct: usize, predicted: usize, support: usize) -> (f64, f64, f64) {
    let p = ratio(correct, predicted);
    let r = ratio(correct, support);
    let f1 = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f1)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The labels of the matrix's rows (gold) and columns (predicted), sorted.
    pub labels: Vec<String>,
    pub matrix: Vec<Vec<usize>>,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Per label: precision, recall, F1, support.
    pub per_label: Vec<(f64, f64, f64, usize)>,
}

pub fn evaluate(gold: &[String], predicted: &[String]) -> Evaluation {
    let labels: Vec<String> = gold
        .iter()
        .chain(predicted)
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let at = |l: &String| labels.binary_search(l).unwrap_or(0);
    let n = labels.len();
    let mut matrix = vec![vec![0usize; n]; n];
    for (g, p) in gold.iter().zip(predicted) {
        matrix[at(g)][at(p)] += 1;
    }
    let total = gold.len();
    let correct: usize = (0..n).map(|i| matrix[i][i]).sum();
    let per_label: Vec<(f64, f64, f64, usize)> = (0..n)
        .map(|i| {
            let predicted: usize = (0..n).map(|r| matrix[r][i]).sum();
            let support: usize = matrix[i].iter().sum();
            let (p, r, f1) = precision_recall_f1(matrix[i][i], predicted, support);
            (p, r, f1, support)
        })
        .collect();
    let macro_f1 = if n == 0 {
        0.0
    } else {
        per_label.iter().map(|x| x.2).sum::<f64>() / n as f64
    };
    Evaluation {
        labels,
        matrix,
        accuracy: ratio(correct, total),
        macro_f1,
        per_label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn matches_scikit_learn_by_hand() {
        // sklearn: accuracy 0.6; per-label F1 1.0, 0.5 and 0.0, so macro-F1 0.5.
        let e = evaluate(&v("a a b b c"), &v("a a b c b"));
        assert_eq!(e.matrix, [[2, 0, 0], [0, 1, 1], [0, 1, 0]]);
        assert!((e.accuracy - 0.6).abs() < 1e-12);
        assert!((e.macro_f1 - (1.0 + 0.5 + 0.0) / 3.0).abs() < 1e-12);
    }
}

impl Evaluation {
    /// The confusion matrix as aligned text: gold labels down, predicted across, `corner`
    /// above the row labels, cells at least `min_width` wide.
    pub fn confusion_table(&self, corner: &str, min_width: usize) -> String {
        let width = self
            .labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .max(min_width);
        let first = width.max(corner.chars().count());
        let line = |head: &str, cells: Vec<String>| format!("{head:first$}  {}\n", cells.join(" "));
        let mut out = line(
            corner,
            self.labels.iter().map(|l| format!("{l:>width$}")).collect(),
        );
        for (l, row) in self.labels.iter().zip(&self.matrix) {
            out.push_str(&line(
                l,
                row.iter().map(|c| format!("{c:>width$}")).collect(),
            ));
        }
        out
    }
}

/// Scores of predicted class probabilities: `proba[i][k]` for row i and class k, `truth[i]`
/// the true class index.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbabilityScores {
    /// scikit-learn's log_loss (probabilities clipped to [1e-15, 1 - 1e-15], rows renormalised).
    pub log_loss: f64,
    /// Multi-class Brier score: mean over rows of the squared distance to the one-hot truth.
    pub brier: f64,
    /// Expected calibration error of the top-class confidence over `bins` equal-width bins.
    pub ece: f64,
    /// Per bin: (mean confidence, accuracy, rows), for reliability diagrams.
    pub bins: Vec<(f64, f64, usize)>,
}

pub fn probability_scores(proba: &[Vec<f64>], truth: &[usize], bins: usize) -> ProbabilityScores {
    let n = proba.len().max(1) as f64;
    let eps = 1e-15;
    let mut log_loss = 0.0;
    let mut brier = 0.0;
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); bins.max(1)];
    for (p, &t) in proba.iter().zip(truth) {
        let clipped: Vec<f64> = p.iter().map(|x| x.clamp(eps, 1.0 - eps)).collect();
        let total: f64 = clipped.iter().sum();
        log_loss -= (clipped[t] / total).ln();
        brier += p
            .iter()
            .enumerate()
            .map(|(k, x)| (x - if k == t { 1.0 } else { 0.0 }).powi(2))
            .sum::<f64>();
        let (best, conf) =
            p.iter().enumerate().fold(
                (0, f64::NEG_INFINITY),
                |acc, (k, &x)| if x > acc.1 { (k, x) } else { acc },
            );
        // Bins (i/B, (i+1)/B], the first including 0.
        let b = ((conf * bins as f64).ceil() as usize).clamp(1, bins.max(1)) - 1;
        sums[b].0 += conf;
        sums[b].1 += f64::from(u8::from(best == t));
        sums[b].2 += 1;
    }
    let ece = sums
        .iter()
        .map(|(c, a, k)| if *k == 0 { 0.0 } else { (c - a).abs() / n })
        .sum();
    ProbabilityScores {
        log_loss: log_loss / n,
        brier: brier / n,
        ece,
        bins: sums
            .into_iter()
            .map(|(c, a, k)| {
                if k == 0 {
                    (0.0, 0.0, 0)
                } else {
                    (c / k as f64, a / k as f64, k)
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod probability_tests {
    use super::*;

    #[test]
    fn by_hand() {
        let p = vec![vec![0.8, 0.2], vec![0.3, 0.7], vec![0.6, 0.4]];
        let s = probability_scores(&p, &[0, 1, 1], 10);
        let ll = -(0.8f64.ln() + 0.7f64.ln() + 0.4f64.ln()) / 3.0;
        assert!((s.log_loss - ll).abs() < 1e-12);
        let brier = (2.0 * 0.04 + 2.0 * 0.09 + 2.0 * 0.36) / 3.0;
        assert!((s.brier - brier).abs() < 1e-12);
        // Bins: 0.8 right, 0.7 right, 0.6 wrong: |0.8-1| + |0.7-1| + |0.6-0|, over 3.
        assert!((s.ece - (0.2 + 0.3 + 0.6) / 3.0).abs() < 1e-12);
    }
}
