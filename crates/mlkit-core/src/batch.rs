//! The one batch pipeline every model runs: tokenized inputs in length-sorted batches under
//! a token budget (so padding is only to a batch's longest text), padded, run on one or more
//! workers, results back in input order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use candle_core::{Device, Tensor};

use crate::device::RunOptions;
use crate::error::CoreError;
use crate::tokenize::Encoded;

/// A batch padded to its longest input: ids, type ids and the attention mask, each (b, s).
pub struct Padded {
    pub ids: Tensor,
    pub type_ids: Tensor,
    pub mask: Tensor,
}

/// Pads a batch to its longest input (mask 1 for tokens, 0 for padding).
pub fn pad(items: &[&Encoded], device: &Device) -> Result<Padded, CoreError> {
    let width = items.iter().map(|e| e.ids.len()).max().unwrap_or(0).max(1);
    let n = items.len();
    let mut ids = vec![0u32; n * width];
    let mut types = vec![0u32; n * width];
    let mut mask = vec![0u32; n * width];
    for (r, e) in items.iter().enumerate() {
        let row = r * width;
        ids[row..row + e.ids.len()].copy_from_slice(&e.ids);
        types[row..row + e.type_ids.len()].copy_from_slice(&e.type_ids);
        mask[row..row + e.ids.len()].fill(1);
    }
    let t = |v: Vec<u32>| Tensor::from_vec(v, (n, width), device).map_err(CoreError::from);
    Ok(Padded {
        ids: t(ids)?,
        type_ids: t(types)?,
        mask: t(mask)?,
    })
}

/// Runs `forward` on every padded batch of `items` under `run`'s token budget and workers;
/// `forward` returns one result per row of its batch, and the results come back one per
/// item, in input order.
pub fn run_padded<T, E, F>(items: &[&Encoded], run: &RunOptions, forward: F) -> Result<Vec<T>, E>
where
    T: Send,
    E: Send + From<CoreError>,
    F: Fn(&Padded) -> Result<Vec<T>, E> + Sync,
{
    let lengths: Vec<usize> = items.iter().map(|e| e.ids.len()).collect();
    run_batches(&lengths, run.max_batch_tokens, run.workers, |batch| {
        let rows: Vec<&Encoded> = batch.iter().map(|&i| items[i]).collect();
        forward(&pad(&rows, &run.device)?)
    })
}

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

/// Runs `run` on every batch of `plan_batches(lengths, max_batch_tokens)` and returns one
/// result per input, in input order. `run` gets a batch's input indices and returns their
/// results in that order.
///
/// With `workers > 1` the batches (longest first) are pulled by that many threads from a
/// shared counter. On CPU this scales far better than splitting each operation over threads:
/// an encoder's operations on a batch of short sentences are too small to share, while whole
/// batches are independent (the CLI then keeps Candle's own operations single-threaded).
/// The first error stops the workers and is returned.
pub fn run_batches<T, E, F>(
    lengths: &[usize],
    max_batch_tokens: usize,
    workers: usize,
    run: F,
) -> Result<Vec<T>, E>
where
    T: Send,
    E: Send,
    F: Fn(&[usize]) -> Result<Vec<T>, E> + Sync,
{
    let batches = plan_batches(lengths, max_batch_tokens);
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<E>> = Mutex::new(None);
    let work = || {
        let mut done: Vec<(usize, T)> = Vec::new();
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            let Some(batch) = batches.get(b) else { break };
            match run(batch) {
                Ok(results) => done.extend(batch.iter().copied().zip(results)),
                Err(e) => {
                    // Later batches are skipped; the first error is kept.
                    next.store(batches.len(), Ordering::Relaxed);
                    let mut slot = failed.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(e);
                    break;
                }
            }
        }
        done
    };
    let workers = workers.clamp(1, batches.len().max(1));
    let mut all: Vec<(usize, T)> = if workers == 1 {
        work()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
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

    #[test]
    fn results_come_back_in_input_order_on_any_worker_count() {
        let lengths: Vec<usize> = (0..200).map(|i| (i * 37) % 50 + 1).collect();
        for workers in [1, 2, 4] {
            let out: Vec<usize> = run_batches(&lengths, 64, workers, |batch| {
                Ok::<_, ()>(batch.iter().map(|&i| i * 10).collect())
            })
            .unwrap();
            assert_eq!(out, (0..200).map(|i| i * 10).collect::<Vec<_>>());
        }
        let err = run_batches(&lengths, 64, 2, |batch| {
            if batch.contains(&7) {
                Err(format!("input {}", 7))
            } else {
                Ok(vec![0; batch.len()])
            }
        });
        assert_eq!(err.unwrap_err(), "input 7");
    }
}
