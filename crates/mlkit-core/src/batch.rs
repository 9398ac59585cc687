//! Length-sorted batches under a token budget, so padding is only to a batch's longest text.

/// Groups input indices into batches: longest first, each batch's (count x longest length)
/// within `max_batch_tokens` (a single longer input still gets a batch of its own).
pub fn plan_batches(lengths: &[usize], max_batch_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    // Stable: equal lengths keep input order, so runs are reproducible.
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0;
    for i in order {
        let len = lengths[i].max(1);
        let width = longest.max(len);
        if !current.is_empty() && width * (current.len() + 1) > max_batch_tokens {
            batches.push(std::mem::take(&mut current));
            longest = 0;
        }
        longest = longest.max(len);
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_input_once_within_budget() {
        let lengths = [5, 100, 7, 7, 60, 1, 300, 2];
        let batches = plan_batches(&lengths, 128);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        for b in &batches {
            let longest = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() == 1 || longest * b.len() <= 128, "{b:?}");
        }
        assert_eq!(batches[0], vec![6]);
    }
}
