//! The feature matrix a forest trains on and scores: dense columns for numeric, categorical
//! and embedding features, sparse ones for text, where almost every value is zero (a TF-IDF
//! row of a short text fills a few dozen of tens of thousands of columns).
//!
//! Columns are the layout training wants (a split search reads one feature over a node's
//! rows); [`RowIndex`] is the row-wise index of the sparse columns that tree walks want (one
//! row, a few features). A zero is never stored in a sparse column: it is the implicit value
//! of every row the column does not name.

use crate::{ForestError, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// One value per row; NaN where missing.
    Dense(Vec<f32>),
    Sparse(SparseColumn),
}

/// The non-zero values of a column: rows ascending, values finite and non-zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseColumn {
    pub rows: Vec<u32>,
    pub values: Vec<f32>,
}

/// Rows x features, by column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix {
    rows: usize,
    columns: Vec<Column>,
}

impl Matrix {
    /// Checks every column against the row count (and sparse ones for order and zeros).
    pub fn new(rows: usize, columns: Vec<Column>) -> Result<Matrix> {
        if rows > u32::MAX as usize {
            return Err(ForestError::Data(format!(
                "{rows} rows: a forest takes at most {} rows",
                u32::MAX
            )));
        }
        for (f, c) in columns.iter().enumerate() {
            let fits = match c {
                Column::Dense(v) => v.len() == rows,
                Column::Sparse(s) => {
                    s.rows.len() == s.values.len()
                        && s.rows.windows(2).all(|w| w[0] < w[1])
                        && s.rows.last().is_none_or(|&r| (r as usize) < rows)
                        && s.values.iter().all(|x| x.is_finite() && *x != 0.0)
                }
            };
            if !fits {
                return Err(ForestError::Data(format!(
                    "feature column {f} does not fit a matrix of {rows} rows"
                )));
            }
        }
        Ok(Matrix { rows, columns })
    }

    /// Dense columns of equal length.
    pub fn dense(columns: Vec<Vec<f32>>) -> Result<Matrix> {
        let rows = columns.first().map_or(0, Vec::len);
        Matrix::new(rows, columns.into_iter().map(Column::Dense).collect())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// How many feature columns there are.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn has_sparse(&self) -> bool {
        self.columns.iter().any(|c| matches!(c, Column::Sparse(_)))
    }

    /// The value of feature `f` in `row`, reading sparse columns through `index` (built over
    /// all rows).
    #[inline]
    pub fn value(&self, index: &RowIndex, row: usize, f: usize) -> f32 {
        match &self.columns[f] {
            Column::Dense(v) => v[row],
            Column::Sparse(_) => index.value(row - index.first, f),
        }
    }

    /// The given rows, in that order (a row may repeat).
    pub fn subset(&self, rows: &[usize]) -> Matrix {
        let index = self.has_sparse().then(|| RowIndex::new(self, 0, self.rows));
        let mut columns: Vec<Column> = self
            .columns
            .iter()
            .map(|c| match c {
                Column::Dense(v) => Column::Dense(rows.iter().map(|&r| v[r]).collect()),
                Column::Sparse(_) => Column::Sparse(SparseColumn::default()),
            })
            .collect();
        if let Some(index) = index {
            // Row by row, so each sparse column's new rows come out ascending.
            for (new, &old) in rows.iter().enumerate() {
                let (features, values) = index.row(old);
                for (&f, &x) in features.iter().zip(values) {
                    if let Column::Sparse(s) = &mut columns[f as usize] {
                        s.rows.push(new as u32);
                        s.values.push(x);
                    }
                }
            }
        }
        Matrix {
            rows: rows.len(),
            columns,
        }
    }

    /// Rows `start..end` row by row: dense values in one row-major block, sparse ones
    /// through a [`RowIndex`], so a tree walk reads one row from cache.
    pub fn row_block(&self, start: usize, end: usize) -> RowBlock {
        let mut slot = Vec::with_capacity(self.columns.len());
        let mut dense_columns = Vec::new();
        for c in &self.columns {
            match c {
                Column::Dense(v) => {
                    slot.push(dense_columns.len() as u32);
                    dense_columns.push(v);
                }
                Column::Sparse(_) => slot.push(SPARSE),
            }
        }
        let width = dense_columns.len();
        let mut dense = vec![0.0f32; (end - start) * width];
        for (d, column) in dense_columns.iter().enumerate() {
            for (r, &x) in column[start..end].iter().enumerate() {
                dense[r * width + d] = x;
            }
        }
        RowBlock {
            slot,
            width,
            dense,
            sparse: RowIndex::new(self, start, end),
        }
    }
}

const SPARSE: u32 = u32::MAX;

/// The sparse columns' entries of rows `first..`, row by row (features ascending), with
/// each entry's position in its column.
#[derive(Clone, Debug, Default)]
pub struct RowIndex {
    first: usize,
    /// Row r's entries are `start[r]..start[r + 1]`.
    start: Vec<usize>,
    feature: Vec<u32>,
    value: Vec<f32>,
    /// The entry's index in its column's `rows` and `values`.
    entry: Vec<u32>,
}

impl RowIndex {
    /// The index of rows `first..end` (counted, then filled column by column).
    pub fn new(matrix: &Matrix, first: usize, end: usize) -> RowIndex {
        let n = end - first;
        let mut start = vec![0usize; n + 1];
        let in_range = |s: &SparseColumn| {
            let lo = s.rows.partition_point(|&r| (r as usize) < first);
            let hi = s.rows.partition_point(|&r| (r as usize) < end);
            lo..hi
        };
        for c in &matrix.columns {
            if let Column::Sparse(s) = c {
                for &r in &s.rows[in_range(s)] {
                    start[r as usize - first + 1] += 1;
                }
            }
        }
        for r in 0..n {
            start[r + 1] += start[r];
        }
        let total = start[n];
        let mut next = start.clone();
        let (mut feature, mut value, mut entry) =
            (vec![0u32; total], vec![0f32; total], vec![0u32; total]);
        for (f, c) in matrix.columns.iter().enumerate() {
            if let Column::Sparse(s) = c {
                for e in in_range(s) {
                    let r = s.rows[e] as usize - first;
                    let at = next[r];
                    next[r] += 1;
                    feature[at] = f as u32;
                    value[at] = s.values[e];
                    entry[at] = e as u32;
                }
            }
        }
        RowIndex {
            first,
            start,
            feature,
            value,
            entry,
        }
    }

    /// The features and values of row `r` (counted from the index's first row).
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = self.start[r]..self.start[r + 1];
        (&self.feature[span.clone()], &self.value[span])
    }

    /// Where feature `f` of row `r` is among the index's entries, if the row has it.
    #[inline]
    fn find(&self, r: usize, f: usize) -> Option<usize> {
        let (lo, hi) = (self.start[r], self.start[r + 1]);
        self.feature[lo..hi]
            .binary_search(&(f as u32))
            .ok()
            .map(|i| lo + i)
    }

    /// Row `r`'s value of sparse feature `f` (zero when not stored).
    #[inline]
    pub fn value(&self, r: usize, f: usize) -> f32 {
        self.find(r, f).map_or(0.0, |i| self.value[i])
    }

    /// The position in feature `f`'s column of row `r`'s entry, if the row has one.
    #[inline]
    pub fn entry(&self, r: usize, f: usize) -> Option<u32> {
        self.find(r, f).map(|i| self.entry[i])
    }
}

/// Rows of a matrix laid out for tree walks (see [`Matrix::row_block`]).
pub struct RowBlock {
    /// Per feature: its place among the dense values of a row, or [`SPARSE`].
    slot: Vec<u32>,
    width: usize,
    dense: Vec<f32>,
    sparse: RowIndex,
}

impl RowBlock {
    /// The rows' values row-major, and how many per row, when every column is dense (then
    /// feature f of row r is `values[r * width + f]`).
    pub fn dense_only(&self) -> Option<(&[f32], usize)> {
        let all_dense = self.slot.iter().all(|&s| s != SPARSE);
        all_dense.then_some((self.dense.as_slice(), self.width))
    }

    /// Feature `f` of the block's row `r`.
    #[inline]
    pub fn get(&self, r: usize, f: usize) -> f32 {
        match self.slot[f] {
            SPARSE => self.sparse.value(r, f),
            d => self.dense[r * self.width + d as usize],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Matrix {
        Matrix::new(
            4,
            vec![
                Column::Dense(vec![1.0, 2.0, f32::NAN, 4.0]),
                Column::Sparse(SparseColumn {
                    rows: vec![1, 3],
                    values: vec![0.5, -2.0],
                }),
                Column::Sparse(SparseColumn {
                    rows: vec![0, 3],
                    values: vec![7.0, 8.0],
                }),
            ],
        )
        .unwrap()
    }

    #[test]
    fn row_views_agree_with_columns() {
        let m = example();
        let index = RowIndex::new(&m, 0, 4);
        let want = [
            [1.0, 0.0, 7.0],
            [2.0, 0.5, 0.0],
            [f32::NAN, 0.0, 0.0],
            [4.0, -2.0, 8.0],
        ];
        let block = m.row_block(1, 4);
        for (r, row) in want.iter().enumerate() {
            for (f, &x) in row.iter().enumerate() {
                let same = |y: f32| y == x || (y.is_nan() && x.is_nan());
                assert!(same(m.value(&index, r, f)), "row {r} feature {f}");
                if r >= 1 {
                    assert!(same(block.get(r - 1, f)), "block row {r} feature {f}");
                }
            }
        }
        assert_eq!(index.entry(3, 1), Some(1));
        assert_eq!(index.entry(2, 1), None);
    }

    #[test]
    fn subsets_keep_sparse_columns_sparse_and_ordered() {
        let m = example();
        let s = m.subset(&[3, 0, 3, 2]);
        assert_eq!(s.rows(), 4);
        assert_eq!(
            s.columns()[1],
            Column::Sparse(SparseColumn {
                rows: vec![0, 2],
                values: vec![-2.0, -2.0]
            })
        );
        assert_eq!(
            s.columns()[2],
            Column::Sparse(SparseColumn {
                rows: vec![0, 1, 2],
                values: vec![8.0, 7.0, 8.0]
            })
        );
    }

    #[test]
    fn columns_that_do_not_fit_are_refused() {
        let bad = |c: Column| Matrix::new(3, vec![c]).is_err();
        assert!(bad(Column::Dense(vec![1.0])));
        let sparse =
            |rows: Vec<u32>, values: Vec<f32>| Column::Sparse(SparseColumn { rows, values });
        assert!(bad(sparse(vec![2, 1], vec![1.0, 1.0])));
        assert!(bad(sparse(vec![3], vec![1.0])));
        assert!(bad(sparse(vec![0], vec![0.0])));
        assert!(bad(sparse(vec![0], vec![f32::NAN])));
        assert!(!bad(sparse(vec![0, 2], vec![1.0, 2.0])));
    }
}
