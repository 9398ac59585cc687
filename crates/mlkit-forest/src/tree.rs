//! One CART classification tree on flat arrays, grown as scikit-learn's
//! DecisionTreeClassifier grows it: weighted Gini, best threshold at midpoints (or a random
//! one for extra trees), max_features drawn per node. Missing values (NaN) go to the right
//! branch of every split: they compare as larger than every threshold.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

#[derive(Clone, Debug)]
pub struct TreeParams {
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    /// Features examined per split (at least one non-constant feature is always found).
    pub max_features: usize,
    /// Extra trees: one random threshold per feature instead of the best one.
    pub extra: bool,
}

/// Nodes in flat arrays; a leaf has `feature == LEAF`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Tree {
    pub feature: Vec<u32>,
    pub threshold: Vec<f32>,
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    /// Class fractions of each node, `n_classes` per node.
    pub value: Vec<f32>,
    pub n_classes: usize,
}

pub const LEAF: u32 = u32::MAX;

impl Tree {
    /// The leaf a row reaches; `get(f)` reads the row's feature f.
    pub fn leaf(&self, get: impl Fn(usize) -> f32) -> usize {
        let mut node = 0;
        while self.feature[node] != LEAF {
            let x = get(self.feature[node] as usize);
            node = if x <= self.threshold[node] {
                self.left[node]
            } else {
                self.right[node]
            } as usize;
        }
        node
    }

    pub fn proba(&self, leaf: usize) -> &[f32] {
        &self.value[leaf * self.n_classes..(leaf + 1) * self.n_classes]
    }

    /// Checks the arrays are a tree: lengths agree and children point forward.
    pub fn validate(&self, n_features: usize) -> Result<(), String> {
        let n = self.feature.len();
        if n == 0
            || self.threshold.len() != n
            || self.left.len() != n
            || self.right.len() != n
            || self.value.len() != n * self.n_classes
        {
            return Err("node arrays of different lengths".into());
        }
        for i in 0..n {
            if self.feature[i] == LEAF {
                continue;
            }
            let (l, r) = (self.left[i] as usize, self.right[i] as usize);
            if self.feature[i] as usize >= n_features || l <= i || r <= i || l >= n || r >= n {
                return Err(format!("node {i} points outside the tree"));
            }
        }
        Ok(())
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
    /// Weighted impurity decrease of the node (for importances).
    gain: f64,
}

/// What a tree is grown on: feature columns, class indices, and per-row weights
/// (bootstrap counts times class weights).
pub struct Training<'a> {
    pub columns: &'a [Vec<f32>],
    pub target: &'a [usize],
    pub n_classes: usize,
    pub weight: &'a [f64],
}

/// Grows a tree on `samples` (row indices); `importance` accumulates each feature's
/// weighted impurity decrease.
pub fn grow(
    data: &Training,
    samples: Vec<u32>,
    params: &TreeParams,
    rng: &mut Rng,
    importance: &mut [f64],
) -> Tree {
    let (target, n_classes, weight) = (data.target, data.n_classes, data.weight);
    let mut tree = Tree {
        n_classes,
        ..Tree::default()
    };
    // (samples of the node, depth, node index)
    let mut stack = vec![(samples, 0usize, 0usize)];
    push_node(&mut tree);
    while let Some((node_samples, depth, node)) = stack.pop() {
        let mut counts = vec![0.0; n_classes];
        for &s in &node_samples {
            counts[target[s as usize]] += weight[s as usize];
        }
        let total: f64 = counts.iter().sum();
        for (k, c) in counts.iter().enumerate() {
            tree.value[node * n_classes + k] = if total > 0.0 { (c / total) as f32 } else { 0.0 };
        }
        let impurity = gini(&counts, total);
        let n = node_samples.len();
        let stop = n < params.min_samples_split
            || n < 2 * params.min_samples_leaf
            || params.max_depth.is_some_and(|d| depth >= d)
            || impurity <= 1e-12;
        let split = if stop {
            None
        } else {
            best_split(data, &node_samples, params, rng, &counts, total)
        };
        let Some(split) = split else { continue };
        importance[split.feature] += split.gain;
        let column = &data.columns[split.feature];
        let (l, r): (Vec<u32>, Vec<u32>) = node_samples
            .iter()
            .partition(|&&s| column[s as usize] <= split.threshold);
        let li = push_node(&mut tree);
        let ri = push_node(&mut tree);
        tree.feature[node] = split.feature as u32;
        tree.threshold[node] = split.threshold;
        tree.left[node] = li as u32;
        tree.right[node] = ri as u32;
        stack.push((r, depth + 1, ri));
        stack.push((l, depth + 1, li));
    }
    tree
}

fn push_node(tree: &mut Tree) -> usize {
    tree.feature.push(LEAF);
    tree.threshold.push(0.0);
    tree.left.push(0);
    tree.right.push(0);
    tree.value.extend(std::iter::repeat_n(0.0, tree.n_classes));
    tree.feature.len() - 1
}

fn best_split(
    data: &Training,
    samples: &[u32],
    params: &TreeParams,
    rng: &mut Rng,
    counts: &[f64],
    total: f64,
) -> Option<Split> {
    let (columns, target, n_classes, weight) =
        (data.columns, data.target, data.n_classes, data.weight);
    let n_features = columns.len();
    let mut order: Vec<usize> = (0..n_features).collect();
    let parent = total * gini(counts, total);
    let mut best: Option<(f64, usize, f32)> = None;
    let mut visited = 0;
    let mut values: Vec<(f32, u32)> = Vec::with_capacity(samples.len());
    for i in 0..n_features {
        if visited >= params.max_features {
            break;
        }
        // Fisher-Yates, one draw at a time: features in a random order.
        let j = i + rng.below(n_features - i);
        order.swap(i, j);
        let f = order[i];
        let column = &columns[f];
        values.clear();
        values.extend(samples.iter().map(|&s| (column[s as usize], s)));
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let finite = values.iter().take_while(|v| !v.0.is_nan()).count();
        if finite == 0 || values[0].0 == values[finite - 1].0 {
            continue; // constant (or all missing) here: not counted, as scikit-learn
        }
        visited += 1;
        let min_leaf = params.min_samples_leaf;
        let mut left = vec![0.0; n_classes];
        let mut lw = 0.0;
        let mut consider = |pos: usize, left: &[f64], lw: f64, threshold: f32| {
            let (nl, nr) = (pos, values.len() - pos);
            if nl < min_leaf || nr < min_leaf {
                return;
            }
            let right: Vec<f64> = counts.iter().zip(left).map(|(c, l)| c - l).collect();
            let rw = total - lw;
            let child = lw * gini(left, lw) + rw * gini(&right, rw);
            let gain = parent - child;
            if gain > 1e-12 && best.is_none_or(|b| gain > b.0) {
                best = Some((gain, f, threshold));
            }
        };
        if params.extra {
            let (lo, hi) = (values[0].0 as f64, values[finite - 1].0 as f64);
            let mut threshold = (lo + rng.unit() * (hi - lo)) as f32;
            if threshold >= hi as f32 {
                threshold = lo as f32;
            }
            let pos = values.partition_point(|v| v.0 <= threshold);
            for v in &values[..pos] {
                left[target[v.1 as usize]] += weight[v.1 as usize];
                lw += weight[v.1 as usize];
            }
            consider(pos, &left, lw, threshold);
            continue;
        }
        for pos in 1..finite {
            let (prev, s) = values[pos - 1];
            left[target[s as usize]] += weight[s as usize];
            lw += weight[s as usize];
            let next = values[pos].0;
            if next > prev {
                // scikit-learn's midpoint, kept below the upper value.
                let mut threshold = ((prev as f64 + next as f64) / 2.0) as f32;
                if threshold >= next {
                    threshold = prev;
                }
                consider(pos, &left, lw, threshold);
            }
        }
        if finite < values.len() {
            // Everything finite left, the missing right.
            for v in &values[finite - 1..finite] {
                left[target[v.1 as usize]] += weight[v.1 as usize];
                lw += weight[v.1 as usize];
            }
            consider(finite, &left, lw, values[finite - 1].0);
        }
    }
    best.map(|(gain, feature, threshold)| Split {
        feature,
        threshold,
        gain,
    })
}
