//! One pass over a large buffer split across Candle's CPU threads. Training runs one batch
//! at a time, and Candle runs only its products and some element-wise operations on more
//! than one thread: the passes of the hand-written backward operations and the optimiser
//! otherwise leave every core but one idle.

/// Values below which a pass stays on the calling thread: starting a thread costs tens of
/// microseconds, these passes about a nanosecond per value.
pub const MIN_PARALLEL_VALUES: usize = 1 << 16;

/// Runs `work(first, part)` over consecutive parts of `items` (`first` is the index of the
/// part's first item) on Candle's thread count, the first part on the calling thread.
/// `values` is how many values the items stand for, which decides whether threads are
/// worth starting. Callers keep their results independent of the split (each item computed
/// alone, partial sums added in item order), so the thread count never changes a number.
pub fn for_parts<T: Send>(items: &mut [T], values: usize, work: impl Fn(usize, &mut [T]) + Sync) {
    let threads = candle_core::utils::get_num_threads().clamp(1, items.len().max(1));
    if threads == 1 || values < MIN_PARALLEL_VALUES {
        work(0, items);
        return;
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = items.chunks_mut(per).enumerate();
        let own = parts.next();
        for (i, part) in parts {
            let work = &work;
            scope.spawn(move || work(i * per, part));
        }
        if let Some((_, part)) = own {
            work(0, part);
        }
    });
}

/// Values per block of `for_blocks`.
pub const BLOCK_VALUES: usize = 1 << 14;

/// `work(offset, block)` over consecutive blocks of `values` (`offset` is the block's start
/// in `values`), on Candle's thread count for large buffers: element-wise passes.
pub fn for_blocks(values: &mut [f32], work: impl Fn(usize, &mut [f32]) + Sync) {
    let len = values.len();
    let mut blocks: Vec<&mut [f32]> = values.chunks_mut(BLOCK_VALUES).collect();
    for_parts(&mut blocks, len, |first, part| {
        for (k, block) in part.iter_mut().enumerate() {
            work((first + k) * BLOCK_VALUES, block);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_worked_once_with_its_index() {
        for (len, values) in [(0, 0), (1, 1), (7, 10), (1000, 1 << 20), (1001, 1 << 20)] {
            let mut items: Vec<(usize, usize)> = (0..len).map(|i| (i, 0)).collect();
            for_parts(&mut items, values, |first, part| {
                for (k, item) in part.iter_mut().enumerate() {
                    assert_eq!(item.0, first + k);
                    item.1 += 1;
                }
            });
            assert!(items.iter().all(|&(_, n)| n == 1), "{len} items");
        }
    }

    #[test]
    fn blocks_cover_the_buffer_at_their_offsets() {
        for len in [0, 5, BLOCK_VALUES, 5 * BLOCK_VALUES + 3] {
            let mut values = vec![0f32; len];
            for_blocks(&mut values, |offset, block| {
                for (k, v) in block.iter_mut().enumerate() {
                    *v += (offset + k) as f32;
                }
            });
            assert!(values.iter().enumerate().all(|(i, &v)| v == i as f32));
        }
    }
}
