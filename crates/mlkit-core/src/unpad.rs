//! Training on the real tokens only. A training batch is padded to its longest sentence:
//! on CoNLL-2003, with the recipe's shuffled batches of 16, 57% of the padded positions
//! are padding. Everything but attention works on each token by itself (the products,
//! LayerNorm, GELU, dropout, the residuals), so the encoders run those on the (tokens,
//! hidden) rows of the real tokens, and pad them back into (batch, seq, hidden) only for
//! attention, which needs the sequences side by side (as padding-free training does in
//! transformers and flash-attention's variable-length kernels).
//!
//! The numbers of real tokens are the padded computation's: a padded position's key is
//! masked out of every real token's attention, and its query's result is never read. Pads
//! now hold zeros instead of values nothing reads, and the products' sums over rows (the
//! weights' gradients) leave out rows whose gradients were exactly zero, so results move
//! by float rounding only. Dropout draws its masks as over the padded rows
//! (`dropout::hidden_rows`), so a seed gives the masks it gave before.

use candle_core::{Result, Tensor};

/// Which rows of a padded (batch, seq) layout hold real tokens.
#[derive(Debug)]
pub struct Rows {
    batch: usize,
    seq: usize,
    /// The padded positions (row-major over batch and seq) of the real tokens, ascending.
    kept: Vec<u32>,
    /// `kept` as a tensor, for gathering.
    kept_index: Tensor,
    /// For each padded position, its row among the real tokens, or the zero row after
    /// them for padding.
    padded_index: Tensor,
}

impl Rows {
    /// The real tokens of `mask` (batch, seq; 1 for tokens, 0 for padding); `None` where
    /// no position is padding (the padded layout is then the rows' own).
    pub fn of_mask(mask: &Tensor) -> Result<Option<Rows>> {
        let (batch, seq) = mask.dims2()?;
        let flags = mask
            .to_dtype(candle_core::DType::U32)?
            .flatten_all()?
            .to_vec1::<u32>()?;
        let kept: Vec<u32> = (0u32..)
            .zip(&flags)
            .filter(|(_, &f)| f != 0)
            .map(|(i, _)| i)
            .collect();
        if kept.len() == flags.len() {
            return Ok(None);
        }
        let zero_row = kept.len() as u32;
        let mut next = 0u32;
        let padded: Vec<u32> = flags
            .iter()
            .map(|&f| {
                if f != 0 {
                    next += 1;
                    next - 1
                } else {
                    zero_row
                }
            })
            .collect();
        let device = mask.device();
        Ok(Some(Rows {
            batch,
            seq,
            kept_index: Tensor::new(kept.as_slice(), device)?,
            padded_index: Tensor::new(padded.as_slice(), device)?,
            kept,
        }))
    }

    /// The real tokens' rows of `xs` (batch, seq, width): (tokens, width).
    pub fn gather(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, s, width) = xs.dims3()?;
        if (b, s) != (self.batch, self.seq) {
            candle_core::bail!(
                "rows of a ({}, {}) batch for ({b}, {s})",
                self.batch,
                self.seq
            )
        }
        xs.reshape((b * s, width))?
            .index_select(&self.kept_index, 0)
    }

    /// `rows` (tokens, width) back in the padded layout (batch, seq, width), zeros at the
    /// padding.
    pub fn pad(&self, rows: &Tensor) -> Result<Tensor> {
        let (n, width) = rows.dims2()?;
        if n != self.kept.len() {
            candle_core::bail!("{n} rows for a batch of {} tokens", self.kept.len())
        }
        let zero = Tensor::zeros((1, width), rows.dtype(), rows.device())?;
        Tensor::cat(&[rows, &zero], 0)?
            .index_select(&self.padded_index, 0)?
            .reshape((self.batch, self.seq, width))
    }

    /// How many positions the padded layout has.
    pub fn padded_len(&self) -> usize {
        self.batch * self.seq
    }

    /// The padded positions of the real tokens, ascending.
    pub fn kept(&self) -> &[u32] {
        &self.kept
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn gathers_and_pads_back_with_zeros_and_their_gradients() {
        let dev = Device::Cpu;
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 1, 1], [1, 0, 0]], &dev).unwrap();
        let rows = Rows::of_mask(&mask).unwrap().unwrap();
        assert_eq!(rows.kept(), &[0, 1, 3, 4, 5, 6]);
        assert_eq!(rows.padded_len(), 9);
        let xs = Var::from_tensor(
            &Tensor::arange(1f32, 19., &dev)
                .unwrap()
                .reshape((3, 3, 2))
                .unwrap(),
        )
        .unwrap();
        let gathered = rows.gather(xs.as_tensor()).unwrap();
        assert_eq!(
            gathered.to_vec2::<f32>().unwrap(),
            [
                [1., 2.],
                [3., 4.],
                [7., 8.],
                [9., 10.],
                [11., 12.],
                [13., 14.]
            ]
        );
        let padded = rows.pad(&gathered).unwrap();
        let want = [
            [[1., 2.], [3., 4.], [0., 0.]],
            [[7., 8.], [9., 10.], [11., 12.]],
            [[13., 14.], [0., 0.], [0., 0.]],
        ];
        assert_eq!(padded.to_vec3::<f32>().unwrap(), want);
        // The gradient reaches the real positions only.
        let grads = (padded * 2.0)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = grads.get(xs.as_tensor()).unwrap().to_vec3::<f32>().unwrap();
        let want = [
            [[2., 2.], [2., 2.], [0., 0.]],
            [[2., 2.], [2., 2.], [2., 2.]],
            [[2., 2.], [0., 0.], [0., 0.]],
        ];
        assert_eq!(g, want);
    }

    #[test]
    fn no_rows_where_nothing_is_padding() {
        let mask = Tensor::new(&[[1u32, 1], [1, 1]], &Device::Cpu).unwrap();
        assert!(Rows::of_mask(&mask).unwrap().is_none());
    }
}
