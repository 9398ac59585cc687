//! Labels ordered by score as the pipeline orders them, then cut by top-k and threshold.

/// `reversed(scores.argsort())`: highest first; of equal scores the later label first
/// (numpy's argsort is stable on the few labels a pipeline has).
pub fn rank(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    order.reverse();
    order
}

/// The ranked labels kept: at most `top_k`, none under `threshold`.
pub fn keep(scores: &[f32], top_k: Option<usize>, threshold: Option<f32>) -> Vec<usize> {
    rank(scores)
        .into_iter()
        .filter(|&i| threshold.is_none_or(|t| scores[i] >= t))
        .take(top_k.unwrap_or(usize::MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_put_the_later_label_first() {
        assert_eq!(rank(&[0.2, 0.5, 0.2, 0.1]), [1, 2, 0, 3]);
        assert_eq!(keep(&[0.2, 0.5, 0.3], Some(2), None), [1, 2]);
        assert_eq!(keep(&[0.2, 0.5, 0.3], None, Some(0.25)), [1, 2]);
    }
}
