//! Accuracy, macro-F1 and the confusion matrix, as scikit-learn's accuracy_score,
//! f1_score(average="macro") and confusion_matrix compute them over the gold and predicted
//! labels' union.

use std::collections::BTreeSet;

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
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_label: Vec<(f64, f64, f64, usize)> = (0..n)
        .map(|i| {
            let tp = matrix[i][i];
            let predicted: usize = (0..n).map(|r| matrix[r][i]).sum();
            let support: usize = matrix[i].iter().sum();
            let (p, r) = (ratio(tp, predicted), ratio(tp, support));
            let f1 = if p + r == 0.0 {
                0.0
            } else {
                2.0 * p * r / (p + r)
            };
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
