//! One CART classification tree on flat arrays, grown as scikit-learn's
//! DecisionTreeClassifier grows it: weighted Gini, max_features drawn per node, the best
//! threshold among bin boundaries (see `bins`: exact midpoints for features with at most 255
//! distinct values) or, for extra trees, one random threshold per feature. Missing values
//! (NaN) go to the right branch of every split: they compare as larger than every threshold.
//! A node's rows are a range of one index array, partitioned in place. The grown tree is
//! stored compactly (`Tree`): 16 bytes per internal node, pure leaves folded into references.
//!
//! A sparse feature (text) is searched through its stored values only: the node's share of
//! them is found either by walking the column and asking where each row sits in the index
//! array, or by looking each of the node's rows up in the row index, whichever is cheaper;
//! the node's zeros are what its class totals leave.
use mlkit_metrics::argmax;

use crate::bins::{Bins, MAX_BINS, MISSING};
use crate::matrix::{Column, Matrix, RowIndex, SparseColumn};
use crate::rng::Rng;

#[derive(Clone, Debug)]
pub struct TreeParams {
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    /// Features examined per split, constant ones included; past it only while every
    /// feature examined was constant in the node (scikit-learn's rule).
    pub max_features: usize,
    /// Extra trees: one random threshold per feature instead of the best one.
    pub extra: bool,
}

/// An internal node; `left` and `right` are [`Child`] references.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Node {
    pub feature: u32,
    pub threshold: f32,
    pub left: u32,
    pub right: u32,
}

/// A child reference packs what it points at into 32 bits: an internal node's index, a pure
/// leaf's class (fully grown trees end almost only in pure leaves, so they cost nothing), or
/// the index of a mixed leaf's class fractions.
pub struct Child;

impl Child {
    const LEAF: u32 = 1 << 31;
    const PURE: u32 = 1 << 30;

    pub fn pure(class: usize) -> u32 {
        Self::LEAF | Self::PURE | class as u32
    }

    pub fn mixed(index: usize) -> u32 {
        Self::LEAF | index as u32
    }
}

/// A compact tree: internal nodes (children after parents) and the class fractions of its
/// mixed leaves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree {
    /// A [`Child`] reference: node 0, or a leaf when the tree never split.
    pub root: u32,
    pub nodes: Vec<Node>,
    /// `n_classes` fractions per mixed leaf.
    pub mixed: Vec<f32>,
    pub n_classes: usize,
}

/// Where a row ends up.
pub enum Leaf<'a> {
    Pure(usize),
    Mixed(&'a [f32]),
}

impl Leaf<'_> {
    /// The class the leaf votes for: its top class, the first on ties.
    pub fn vote(&self) -> usize {
        match self {
            Leaf::Pure(c) => *c,
            Leaf::Mixed(p) => argmax(p),
        }
    }

    /// Adds the leaf's class fractions to `sum`.
    pub fn add_fractions(&self, sum: &mut [f64]) {
        match self {
            Leaf::Pure(c) => sum[*c] += 1.0,
            Leaf::Mixed(p) => {
                for (a, x) in sum.iter_mut().zip(*p) {
                    *a += *x as f64;
                }
            }
        }
    }
}

impl Tree {
    /// The leaf a row reaches; `get(f)` reads the row's feature f.
    #[inline]
    pub fn leaf(&self, get: impl Fn(usize) -> f32) -> Leaf<'_> {
        let mut at = self.root;
        while at & Child::LEAF == 0 {
            let node = &self.nodes[at as usize];
            at = if get(node.feature as usize) <= node.threshold {
                node.left
            } else {
                node.right
            };
        }
        self.leaf_of(at)
    }

    /// The leaves that `rows` rows reach, `visit(row, leaf)`, rows in no set order; `get(row,
    /// f)` reads a row's feature f. Thirty-two rows walk at once, a step each in turn, so that
    /// their node loads (cache misses on a deep tree) overlap instead of waiting one after
    /// another; a row that reaches its leaf hands its place to the next row at once, so no
    /// walk waits for the deepest of its group.
    #[inline]
    pub fn leaves(
        &self,
        rows: usize,
        get: impl Fn(usize, usize) -> f32,
        mut visit: impl FnMut(usize, Leaf<'_>),
    ) {
        const LANES: usize = 32;
        if self.root & Child::LEAF != 0 {
            (0..rows).for_each(|r| visit(r, self.leaf_of(self.root)));
            return;
        }
        let mut live = LANES.min(rows);
        let mut row: [usize; LANES] = std::array::from_fn(|i| i);
        let mut at = [self.root; LANES];
        let mut next = live;
        while live > 0 {
            let mut i = 0;
            while i < live {
                let node = &self.nodes[at[i] as usize];
                let to = if get(row[i], node.feature as usize) <= node.threshold {
                    node.left
                } else {
                    node.right
                };
                if to & Child::LEAF == 0 {
                    at[i] = to;
                    i += 1;
                    continue;
                }
                visit(row[i], self.leaf_of(to));
                if next < rows {
                    (row[i], at[i]) = (next, self.root);
                    next += 1;
                    i += 1;
                } else {
                    // No rows left to start: the last live lane takes this place.
                    live -= 1;
                    (row[i], at[i]) = (row[live], at[live]);
                }
            }
        }
    }

    /// The leaf a [`Child`] reference to a leaf names.
    #[inline]
    fn leaf_of(&self, at: u32) -> Leaf<'_> {
        if at & Child::PURE != 0 {
            Leaf::Pure((at & !(Child::LEAF | Child::PURE)) as usize)
        } else {
            let i = (at & !Child::LEAF) as usize * self.n_classes;
            Leaf::Mixed(&self.mixed[i..i + self.n_classes])
        }
    }

    /// Checks a tree read from a file: features and classes in range, children after their
    /// parents (so every walk ends), mixed leaves present.
    pub fn validate(&self, n_features: usize) -> Result<(), String> {
        let k = self.n_classes;
        if k == 0 || !self.mixed.len().is_multiple_of(k) {
            return Err("leaf fractions do not fit the classes".into());
        }
        let leaves = self.mixed.len() / k;
        let check = |child: u32, parent: Option<usize>| -> Result<(), String> {
            if child & Child::LEAF == 0 {
                let i = child as usize;
                if i >= self.nodes.len() || parent.is_some_and(|p| i <= p) {
                    return Err(format!("a reference to node {i} points outside the tree"));
                }
            } else if child & Child::PURE != 0 {
                if (child & !(Child::LEAF | Child::PURE)) as usize >= k {
                    return Err("a leaf of a class the model does not have".into());
                }
            } else if (child & !Child::LEAF) as usize >= leaves {
                return Err("a reference to a leaf that is not there".into());
            }
            Ok(())
        };
        if self.root & Child::LEAF == 0 && self.root != 0 {
            return Err("the root is not node 0".into());
        }
        check(self.root, None)?;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.feature as usize >= n_features {
                return Err(format!("node {i} splits on feature {}", n.feature));
            }
            check(n.left, Some(i))?;
            check(n.right, Some(i))?;
        }
        Ok(())
    }
}

/// A tree as it is grown: every node, leaves included, with its class fractions.
#[derive(Default)]
struct Growing {
    feature: Vec<u32>,
    threshold: Vec<f32>,
    left: Vec<u32>,
    right: Vec<u32>,
    value: Vec<f32>,
    n_classes: usize,
}

const NOT_SPLIT: u32 = u32::MAX;

impl Growing {
    fn push_node(&mut self) -> usize {
        self.feature.push(NOT_SPLIT);
        self.threshold.push(0.0);
        self.left.push(0);
        self.right.push(0);
        self.value.extend(std::iter::repeat_n(0.0, self.n_classes));
        self.feature.len() - 1
    }

    /// The compact tree: internal nodes renumbered in order (children still after parents),
    /// leaves folded into the references to them.
    fn compact(self) -> Tree {
        let k = self.n_classes;
        let mut index = vec![0u32; self.feature.len()];
        let mut internal = 0;
        for (i, &f) in self.feature.iter().enumerate() {
            if f != NOT_SPLIT {
                index[i] = internal;
                internal += 1;
            }
        }
        let mut mixed = Vec::new();
        let mut child = |i: usize| -> u32 {
            if self.feature[i] != NOT_SPLIT {
                return index[i];
            }
            let p = &self.value[i * k..(i + 1) * k];
            match p.iter().position(|&x| x == 1.0) {
                Some(c) if p.iter().filter(|&&x| x != 0.0).count() == 1 => Child::pure(c),
                _ => {
                    mixed.extend_from_slice(p);
                    Child::mixed(mixed.len() / k - 1)
                }
            }
        };
        let root = child(0);
        let mut nodes = Vec::with_capacity(internal as usize);
        for i in 0..self.feature.len() {
            if self.feature[i] != NOT_SPLIT {
                nodes.push(Node {
                    feature: self.feature[i],
                    threshold: self.threshold[i],
                    left: child(self.left[i] as usize),
                    right: child(self.right[i] as usize),
                });
            }
        }
        Tree {
            root,
            nodes,
            mixed,
            n_classes: k,
        }
    }
}

fn gini(counts: &[f64], total: f64) -> f64 {
    if total <= 0.0 {
        return 0.0;
    }
    1.0 - counts
        .iter()
        .map(|c| (c / total) * (c / total))
        .sum::<f64>()
}

struct Split {
    feature: usize,
    threshold: f32,
    /// For a split found among a dense feature's bins: the last bin that goes left (the
    /// rows are then partitioned by their bin codes, which say the same as the threshold).
    bin: Option<u8>,
    /// Weighted impurity decrease of the node (for importances).
    gain: f64,
}

/// What a tree is grown on: feature columns (raw, and binned for the best-split search),
/// class indices, and per-row weights (bootstrap counts times class weights).
pub struct Training<'a> {
    pub matrix: &'a Matrix,
    /// The sparse columns by row, over all rows (empty without sparse columns).
    pub rows: &'a RowIndex,
    /// Needed unless the tree is an extra tree (which draws thresholds from raw values).
    pub bins: Option<&'a Bins>,
    pub target: &'a [usize],
    pub n_classes: usize,
    pub weight: &'a [f64],
}

/// Buffers reused by every node of a tree.
struct Scratch {
    order: Vec<usize>,
    /// Weighted class counts per bin, then rows per bin; all zero between searches.
    hist: Vec<f64>,
    rows: Vec<u32>,
    left: Vec<f64>,
    /// A sparse feature's stored values in the node (positions in its column).
    entries: Vec<u32>,
    /// Their class weights.
    stored: Vec<f64>,
    /// Where each row is in the sample array (`u32::MAX` when out of the tree's sample).
    position: Vec<u32>,
}

/// A node's rows: their row numbers, classes and weights side by side, so that a split
/// search reads classes and weights in order (only the feature's values are looked up by
/// row number).
struct NodeRows<'a> {
    samples: &'a [u32],
    class: &'a [u32],
    weight: &'a [f64],
    /// Where `samples` start in the tree's sample array.
    start: usize,
}

/// Grows a tree on `samples` (row indices); `importance` accumulates each feature's
/// weighted impurity decrease.
pub fn grow(
    data: &Training,
    mut samples: Vec<u32>,
    params: &TreeParams,
    rng: &mut Rng,
    importance: &mut [f64],
) -> Tree {
    let n_classes = data.n_classes;
    let mut class: Vec<u32> = samples
        .iter()
        .map(|&s| data.target[s as usize] as u32)
        .collect();
    let mut weight: Vec<f64> = samples.iter().map(|&s| data.weight[s as usize]).collect();
    let mut tree = Growing {
        n_classes,
        ..Growing::default()
    };
    let mut scratch = Scratch {
        order: (0..data.matrix.width()).collect(),
        hist: vec![0.0; (MAX_BINS + 1) * n_classes],
        rows: vec![0; MAX_BINS + 1],
        left: vec![0.0; n_classes],
        entries: Vec::new(),
        stored: vec![0.0; n_classes],
        position: Vec::new(),
    };
    if data.matrix.has_sparse() {
        scratch.position = vec![u32::MAX; data.matrix.rows()];
        for (i, &s) in samples.iter().enumerate() {
            scratch.position[s as usize] = i as u32;
        }
    }
    // Each node owns a range of `samples`, split in place: (start, end, depth, node index).
    let mut stack = vec![(0, samples.len(), 0usize, 0usize)];
    tree.push_node();
    let mut counts = vec![0.0; n_classes];
    while let Some((start, end, depth, node)) = stack.pop() {
        let rows = NodeRows {
            samples: &samples[start..end],
            class: &class[start..end],
            weight: &weight[start..end],
            start,
        };
        counts.fill(0.0);
        for (&c, &w) in rows.class.iter().zip(rows.weight) {
            counts[c as usize] += w;
        }
        let total: f64 = counts.iter().sum();
        for (k, c) in counts.iter().enumerate() {
            tree.value[node * n_classes + k] = if total > 0.0 { (c / total) as f32 } else { 0.0 };
        }
        let impurity = gini(&counts, total);
        let n = rows.samples.len();
        let stop = n < params.min_samples_split
            // (saturating: any leaf size a user asks for is a valid, if useless, one)
            || n < params.min_samples_leaf.saturating_mul(2)
            || params.max_depth.is_some_and(|d| depth >= d)
            || impurity <= 1e-12;
        let split = if stop {
            None
        } else {
            best_split(data, &rows, params, rng, &counts, total, &mut scratch)
        };
        let Some(split) = split else { continue };
        importance[split.feature] += split.gain;
        let f = split.feature;
        let range = start..end;
        let mid = match (&data.matrix.columns()[f], split.bin, data.bins) {
            (Column::Dense(_), Some(bin), Some(bins)) => {
                let codes = &bins.codes[f];
                partition(
                    &mut samples[range.clone()],
                    &mut class[range.clone()],
                    &mut weight[range],
                    |s| codes[s as usize] <= bin,
                )
            }
            (Column::Dense(column), _, _) => partition(
                &mut samples[range.clone()],
                &mut class[range.clone()],
                &mut weight[range],
                |s| column[s as usize] <= split.threshold,
            ),
            (Column::Sparse(_), _, _) => partition(
                &mut samples[range.clone()],
                &mut class[range.clone()],
                &mut weight[range],
                |s| data.rows.value(s as usize, f) <= split.threshold,
            ),
        };
        // Sparse searches find the node's rows by their place in the sample array.
        if !scratch.position.is_empty() {
            for (i, &s) in samples[start..end].iter().enumerate() {
                scratch.position[s as usize] = (start + i) as u32;
            }
        }
        let li = tree.push_node();
        let ri = tree.push_node();
        tree.feature[node] = split.feature as u32;
        tree.threshold[node] = split.threshold;
        tree.left[node] = li as u32;
        tree.right[node] = ri as u32;
        stack.push((start + mid, end, depth + 1, ri));
        stack.push((start, start + mid, depth + 1, li));
    }
    tree.compact()
}

/// Moves the samples for which `left` holds (with their classes and weights) to the front;
/// returns how many there are.
fn partition(
    samples: &mut [u32],
    class: &mut [u32],
    weight: &mut [f64],
    left: impl Fn(u32) -> bool,
) -> usize {
    let mut mid = 0;
    for i in 0..samples.len() {
        if left(samples[i]) {
            samples.swap(i, mid);
            class.swap(i, mid);
            weight.swap(i, mid);
            mid += 1;
        }
    }
    mid
}

/// The best split of a node, or none when no feature separates it; both searches keep the
/// first best candidate in the order features were drawn. As scikit-learn, any valid
/// candidate of an impure node is taken, even one that decreases no impurity (a later split
/// may: two features that only separate the classes together).
struct Best<'p> {
    /// The node's sum over classes of squared weight, over its total weight.
    base: f64,
    total: f64,
    counts: &'p [f64],
    n: usize,
    min_leaf: usize,
    /// (gain, feature, threshold, bin)
    found: Option<(f64, usize, f32, Option<u8>)>,
}

impl Best<'_> {
    /// A candidate: `nl` rows with class weights `left` go left. The weighted Gini decrease
    /// of a node is, with lw + rw = total, `sum(l^2)/lw + sum(r^2)/rw - sum(c^2)/total`: two
    /// divisions per candidate instead of one per class.
    #[inline]
    fn consider(&mut self, f: usize, nl: usize, left: &[f64], threshold: f32, bin: Option<u8>) {
        if nl < self.min_leaf || self.n - nl < self.min_leaf {
            return;
        }
        let (mut lw, mut l2, mut r2) = (0.0, 0.0, 0.0);
        for (l, c) in left.iter().zip(self.counts) {
            let r = c - l;
            lw += l;
            l2 += l * l;
            r2 += r * r;
        }
        let rw = self.total - lw;
        let share = |sq: f64, w: f64| if w > 0.0 { sq / w } else { 0.0 };
        let gain = share(l2, lw) + share(r2, rw) - self.base;
        if self.found.is_none_or(|b| gain > b.0) {
            self.found = Some((gain, f, threshold, bin));
        }
    }
}

fn best_split(
    data: &Training,
    rows: &NodeRows,
    params: &TreeParams,
    rng: &mut Rng,
    counts: &[f64],
    total: f64,
    scratch: &mut Scratch,
) -> Option<Split> {
    let n_features = data.matrix.width();
    let mut best = Best {
        base: if total > 0.0 {
            counts.iter().map(|c| c * c).sum::<f64>() / total
        } else {
            0.0
        },
        total,
        counts,
        n: rows.samples.len(),
        min_leaf: params.min_samples_leaf,
        found: None,
    };
    let mut any_varies = false;
    for i in 0..n_features {
        // As scikit-learn: max_features features are examined, constant ones (or all
        // missing) included, and more only until one varies in the node.
        if i >= params.max_features && any_varies {
            break;
        }
        // Fisher-Yates, one draw at a time: features in a random order.
        let j = i + rng.below(n_features - i);
        scratch.order.swap(i, j);
        let f = scratch.order[i];
        let varies = match (&data.matrix.columns()[f], data.bins) {
            (Column::Dense(_), Some(bins)) if !params.extra => {
                binned_search(data, bins, f, rows, scratch, &mut best)
            }
            (Column::Dense(column), _) => {
                random_threshold(column, f, rows, rng, scratch, &mut best)
            }
            (Column::Sparse(column), bins) => {
                let node = Sparse { column, f, rows };
                let bins = bins.filter(|_| !params.extra);
                sparse_search(data, &node, bins, rng, scratch, &mut best)
            }
        };
        any_varies |= varies;
    }
    best.found.map(|(gain, feature, threshold, bin)| Split {
        feature,
        threshold,
        bin,
        gain,
    })
}

/// The best split of feature `f` at a bin boundary: one pass over the node's rows fills a
/// histogram of class weights per bin, marking the bins it touches, and the scan visits
/// only those, in order (a small node touches few of the 255 bins), leaving the histogram
/// empty again. Returns false when the feature is constant in the node.
fn binned_search(
    data: &Training,
    bins: &Bins,
    f: usize,
    node: &NodeRows,
    scratch: &mut Scratch,
    best: &mut Best,
) -> bool {
    let k = data.n_classes;
    let column = &bins.codes[f];
    let Scratch {
        hist, rows, left, ..
    } = scratch;
    let mut touched = [0u64; 4];
    let mut missing = 0;
    for ((&s, &y), &w) in node.samples.iter().zip(node.class).zip(node.weight) {
        let c = column[s as usize] as usize;
        if c == MISSING as usize {
            missing += 1;
            continue;
        }
        touched[c / 64] |= 1 << (c % 64);
        hist[c * k + y as usize] += w;
        rows[c] += 1;
    }
    let distinct: u32 = touched.iter().map(|t| t.count_ones()).sum();
    // (A single finite value beside missing ones is no split either.)
    if distinct > 1 {
        left.fill(0.0);
        let mut nl = 0;
        let mut seen = 0;
        for_each_bin(&touched, |b| {
            for (l, h) in left.iter_mut().zip(&hist[b * k..(b + 1) * k]) {
                *l += h;
            }
            nl += rows[b] as usize;
            seen += 1;
            // After the last finite bin, a split remains only if missing rows go right.
            if seen < distinct || missing > 0 {
                best.consider(f, nl, left, bins.threshold(f, b as u8), Some(b as u8));
            }
        });
    }
    for_each_bin(&touched, |b| {
        hist[b * k..(b + 1) * k].fill(0.0);
        rows[b] = 0;
    });
    distinct > 1
}

/// Calls `visit` with each bin whose bit is set, in ascending order.
#[inline]
fn for_each_bin(bits: &[u64; 4], mut visit: impl FnMut(usize)) {
    for (word, &w) in bits.iter().enumerate() {
        let mut w = w;
        while w != 0 {
            visit(word * 64 + w.trailing_zeros() as usize);
            w &= w - 1;
        }
    }
}

/// Extra trees: one threshold drawn uniformly between the node's smallest and largest value
/// of feature `f`. Returns false when the feature is constant in the node.
fn random_threshold(
    column: &[f32],
    f: usize,
    node: &NodeRows,
    rng: &mut Rng,
    scratch: &mut Scratch,
    best: &mut Best,
) -> bool {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &s in node.samples {
        let x = column[s as usize];
        if !x.is_nan() {
            lo = lo.min(x);
            hi = hi.max(x);
        }
    }
    if lo >= hi {
        return false;
    }
    let threshold = draw_threshold(rng, lo, hi);
    let Scratch { left, .. } = scratch;
    left.fill(0.0);
    let mut nl = 0;
    for ((&s, &y), &w) in node.samples.iter().zip(node.class).zip(node.weight) {
        if column[s as usize] <= threshold {
            left[y as usize] += w;
            nl += 1;
        }
    }
    best.consider(f, nl, left, threshold, None);
    true
}

/// A threshold drawn uniformly in [lo, hi), as a float32 below `hi`.
fn draw_threshold(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    let (lo64, hi64) = (lo as f64, hi as f64);
    let threshold = (lo64 + rng.unit() * (hi64 - lo64)) as f32;
    if threshold >= hi {
        lo
    } else {
        threshold
    }
}

/// A sparse feature in a node.
struct Sparse<'a> {
    column: &'a SparseColumn,
    f: usize,
    rows: &'a NodeRows<'a>,
}

/// Looking a row up in the row index costs about this many column entries walked (a binary
/// search over a text's few dozen terms).
const LOOKUP_COST: usize = 6;

/// Fills `scratch.entries` with the node's stored values of the feature (their positions
/// in the column) and `scratch.stored` with their class weights.
fn node_entries(data: &Training, node: &Sparse, scratch: &mut Scratch) {
    let Scratch {
        entries,
        stored,
        position,
        ..
    } = scratch;
    entries.clear();
    let samples = node.rows.samples;
    let (start, end) = (node.rows.start, node.rows.start + samples.len());
    if node.column.rows.len() <= samples.len() * LOOKUP_COST {
        for (e, &r) in node.column.rows.iter().enumerate() {
            let p = position[r as usize] as usize;
            if (start..end).contains(&p) {
                entries.push(e as u32);
            }
        }
    } else {
        entries.extend(
            samples
                .iter()
                .filter_map(|&s| data.rows.entry(s as usize, node.f)),
        );
    }
    stored.fill(0.0);
    for &e in entries.iter() {
        let r = node.column.rows[e as usize] as usize;
        stored[data.target[r]] += data.weight[r];
    }
}

/// The best split of a sparse feature: at a bin boundary when `bins` are given, else at
/// one random threshold (extra trees). The node's zeros are one group, weighed by what its
/// class totals leave after the stored values. Returns false when the feature is constant
/// in the node.
fn sparse_search(
    data: &Training,
    node: &Sparse,
    bins: Option<&Bins>,
    rng: &mut Rng,
    scratch: &mut Scratch,
    best: &mut Best,
) -> bool {
    node_entries(data, node, scratch);
    let (target, weight, k) = (data.target, data.weight, data.n_classes);
    let (f, column) = (node.f, node.column);
    let zeros = node.rows.samples.len() - scratch.entries.len();
    if scratch.entries.is_empty() {
        return false;
    }
    let Scratch {
        entries,
        stored,
        hist,
        rows,
        left,
        ..
    } = scratch;
    // The zeros' class weights: the node's totals less the stored values' (never below 0
    // from rounding).
    let zero_weight = |j: usize| (best.counts[j] - stored[j]).max(0.0);
    let Some(bins) = bins else {
        let (mut lo, mut hi) = if zeros > 0 {
            (0.0f32, 0.0f32)
        } else {
            (f32::INFINITY, f32::NEG_INFINITY)
        };
        for &e in entries.iter() {
            let x = column.values[e as usize];
            lo = lo.min(x);
            hi = hi.max(x);
        }
        if lo >= hi {
            return false;
        }
        let threshold = draw_threshold(rng, lo, hi);
        left.fill(0.0);
        let mut nl = 0;
        for &e in entries.iter() {
            if column.values[e as usize] <= threshold {
                let r = column.rows[e as usize] as usize;
                left[target[r]] += weight[r];
                nl += 1;
            }
        }
        if zeros > 0 && 0.0 <= threshold {
            for (j, l) in left.iter_mut().enumerate() {
                *l += zero_weight(j);
            }
            nl += zeros;
        }
        best.consider(f, nl, left, threshold, None);
        return true;
    };
    let codes = &bins.codes[f];
    let zero = bins.zero[f];
    let mut touched = [0u64; 4];
    for &e in entries.iter() {
        let c = codes[e as usize] as usize;
        let r = column.rows[e as usize] as usize;
        touched[c / 64] |= 1 << (c % 64);
        hist[c * k + target[r]] += weight[r];
        rows[c] += 1;
    }
    if zeros > 0 {
        let z = zero as usize;
        touched[z / 64] |= 1 << (z % 64);
        for j in 0..k {
            hist[z * k + j] += zero_weight(j);
        }
        rows[z] += zeros as u32;
    }
    let distinct: u32 = touched.iter().map(|t| t.count_ones()).sum();
    if distinct > 1 {
        left.fill(0.0);
        let (mut nl, mut seen) = (0, 0);
        for_each_bin(&touched, |b| {
            for (l, h) in left.iter_mut().zip(&hist[b * k..(b + 1) * k]) {
                *l += h;
            }
            nl += rows[b] as usize;
            seen += 1;
            if seen < distinct {
                best.consider(f, nl, left, bins.threshold(f, b as u8), None);
            }
        });
    }
    // Leave the histogram empty for the next search.
    for_each_bin(&touched, |b| {
        hist[b * k..(b + 1) * k].fill(0.0);
        rows[b] = 0;
    });
    distinct > 1
}
