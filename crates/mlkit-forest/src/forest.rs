//! A forest of trees: bootstrap samples, class weights, out-of-bag score, per-tree votes and
//! averaged leaf probabilities; the versioned, checksummed model file.

use mlkit_metrics::argmax;
use serde::{Deserialize, Serialize};

use crate::bins::{Bins, MAX_BINS};
use crate::calibrate::{stratified_folds, Calibration, Calibrator, Fold, Method};
use crate::data::{Feature, Table};
use crate::matrix::{Matrix, RowIndex};
use crate::model_file;
use crate::parallel::{blocks, parallel_map};
use crate::rng::Rng;
use crate::tree::{grow, Leaf, Training, Tree, TreeParams};
use crate::{ForestError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ClassWeight {
    None,
    /// n / (classes x count of the class), over the whole training set.
    Balanced,
    /// The same over each tree's bootstrap sample.
    #[cfg_attr(feature = "clap", value(alias = "balanced_subsample"))]
    BalancedSubsample,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum MaxFeatures {
    Sqrt,
    Log2,
    Count(usize),
    Fraction(f64),
    All,
}

impl MaxFeatures {
    pub fn resolve(self, n: usize) -> usize {
        let k = match self {
            MaxFeatures::Sqrt => (n as f64).sqrt() as usize,
            MaxFeatures::Log2 => (n as f64).log2() as usize,
            MaxFeatures::Count(k) => k,
            MaxFeatures::Fraction(f) => (f * n as f64) as usize,
            MaxFeatures::All => n,
        };
        k.clamp(1, n.max(1))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ForestParams {
    pub trees: usize,
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    pub max_features: MaxFeatures,
    pub bootstrap: bool,
    pub extra: bool,
    pub class_weight: ClassWeight,
    pub seed: u64,
    pub oob: bool,
    /// Bins per feature for the split search (at most 255).
    #[serde(default = "default_max_bins")]
    pub max_bins: usize,
}

fn default_max_bins() -> usize {
    MAX_BINS
}

impl Default for ForestParams {
    /// scikit-learn's RandomForestClassifier defaults.
    fn default() -> Self {
        ForestParams {
            trees: 100,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            extra: false,
            class_weight: ClassWeight::None,
            seed: 0,
            oob: false,
            max_bins: MAX_BINS,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Forest {
    /// The target column's name in the training data.
    #[serde(default)]
    pub target: String,
    pub params: ForestParams,
    pub features: Vec<Feature>,
    pub classes: Vec<String>,
    /// Written in binary after the metadata (see `model_file`).
    #[serde(skip)]
    pub trees: Vec<Tree>,
    /// Mean decrease in impurity, normalised to sum to 1 (scikit-learn's feature_importances_).
    pub importances: Vec<f64>,
    pub oob_score: Option<f64>,
    /// Present when trained with `--calibrate`: the trees are then one forest per fold.
    #[serde(default)]
    pub calibration: Option<Calibration>,
}

fn class_weights(counts: &[f64], n_classes: usize) -> Vec<f64> {
    let n: f64 = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if c > 0.0 {
                n / (n_classes as f64 * c)
            } else {
                0.0
            }
        })
        .collect()
}

/// One tree's sample weights (bootstrap counts times class weights) and its rows.
fn sample(
    table: &Table,
    params: &ForestParams,
    rng: &mut Rng,
    balanced: &[f64],
) -> (Vec<f64>, Vec<u32>) {
    let n = table.rows();
    let k = table.classes.len();
    let mut count = vec![0.0f64; n];
    if params.bootstrap {
        for _ in 0..n {
            count[rng.below(n)] += 1.0;
        }
    } else {
        count.fill(1.0);
    }
    let per_class: Vec<f64> = match params.class_weight {
        ClassWeight::None => vec![1.0; k],
        ClassWeight::Balanced => balanced.to_vec(),
        ClassWeight::BalancedSubsample => {
            let mut c = vec![0.0; k];
            for (i, &w) in count.iter().enumerate() {
                c[table.target[i]] += w;
            }
            class_weights(&c, k)
        }
    };
    let weight: Vec<f64> = count
        .iter()
        .enumerate()
        .map(|(i, &c)| c * per_class[table.target[i]])
        .collect();
    let rows = (0..n as u32)
        .filter(|&i| weight[i as usize] > 0.0)
        .collect();
    (weight, rows)
}

impl Forest {
    /// Trains on `table` with `threads` threads; a seed gives the same forest whatever the
    /// thread count.
    pub fn fit(table: &Table, params: &ForestParams, threads: usize) -> Result<Forest> {
        if table.rows() == 0 {
            return Err(ForestError::Data("no training rows".into()));
        }
        if params.trees == 0 {
            return Err(ForestError::Usage("a forest needs at least 1 tree".into()));
        }
        let k = table.classes.len();
        let nf = table.matrix.width();
        let mut all = vec![0.0; k];
        for &t in &table.target {
            all[t] += 1.0;
        }
        let balanced = class_weights(&all, k);
        let tree_params = TreeParams {
            max_depth: params.max_depth,
            min_samples_split: params.min_samples_split.max(2),
            min_samples_leaf: params.min_samples_leaf.max(1),
            max_features: params.max_features.resolve(nf),
            extra: params.extra,
        };
        // Extra trees draw thresholds from raw values and need no bins.
        let bins = (!params.extra).then(|| Bins::new(&table.matrix, params.max_bins));
        let bins = &bins;
        let by_row = if table.matrix.has_sparse() {
            RowIndex::new(&table.matrix, 0, table.rows())
        } else {
            RowIndex::default()
        };
        let by_row = &by_row;
        // (tree, importances, out-of-bag rows) per tree index; tree i draws from stream i.
        let indices: Vec<usize> = (0..params.trees).collect();
        let grown = parallel_map(&indices, threads, |&i| {
            let mut rng = Rng::new(params.seed, i as u64);
            let (weight, rows) = sample(table, params, &mut rng, &balanced);
            let oob: Vec<u32> = (0..table.rows() as u32)
                .filter(|&r| weight[r as usize] == 0.0)
                .collect();
            let mut imp = vec![0.0; nf];
            let data = Training {
                matrix: &table.matrix,
                rows: by_row,
                bins: bins.as_ref(),
                target: &table.target,
                n_classes: k,
                weight: &weight,
            };
            let tree = grow(&data, rows, &tree_params, &mut rng, &mut imp);
            (tree, imp, oob)
        });
        // Importances: each tree's normalised, then averaged (as scikit-learn).
        let mut importances = vec![0.0; nf];
        for (_, imp, _) in &grown {
            let s: f64 = imp.iter().sum();
            if s > 0.0 {
                for (a, b) in importances.iter_mut().zip(imp) {
                    *a += b / s;
                }
            }
        }
        let s: f64 = importances.iter().sum();
        if s > 0.0 {
            importances.iter_mut().for_each(|x| *x /= s);
        }
        let mut forest = Forest {
            target: String::new(),
            params: params.clone(),
            features: table.features.clone(),
            classes: table.classes.clone(),
            trees: Vec::new(),
            importances,
            oob_score: None,
            calibration: None,
        };
        let mut oob_sum = vec![vec![0.0f64; k]; if params.oob { table.rows() } else { 0 }];
        for (tree, _, oob) in grown {
            if params.oob {
                for &r in &oob {
                    tree.leaf(|f| table.matrix.value(by_row, r as usize, f))
                        .add_fractions(&mut oob_sum[r as usize]);
                }
            }
            forest.trees.push(tree);
        }
        if params.oob {
            let scored: Vec<(usize, bool)> = oob_sum
                .iter()
                .enumerate()
                .filter(|(_, s)| s.iter().sum::<f64>() > 0.0)
                .map(|(r, s)| (r, argmax(s) == table.target[r]))
                .collect();
            if !scored.is_empty() {
                forest.oob_score =
                    Some(scored.iter().filter(|x| x.1).count() as f64 / scored.len() as f64);
            }
        }
        Ok(forest)
    }

    /// CalibratedClassifierCV with `cv` stratified folds (no shuffling, as scikit-learn's
    /// default): a forest per fold trained on the others, calibrated on its held-out rows.
    pub fn fit_calibrated(
        table: &Table,
        params: &ForestParams,
        method: Method,
        cv: usize,
        threads: usize,
    ) -> Result<Forest> {
        if cv < 2 {
            return Err(ForestError::Usage(
                "calibration needs at least 2 folds".into(),
            ));
        }
        let folds = stratified_folds(&table.target, cv)?;
        let k = table.classes.len();
        let mut model: Option<Forest> = None;
        let mut calibration = Calibration {
            method,
            folds: Vec::new(),
        };
        for fold in 0..cv {
            let train: Vec<usize> = (0..folds.len()).filter(|&r| folds[r] != fold).collect();
            let held: Vec<usize> = (0..folds.len()).filter(|&r| folds[r] == fold).collect();
            let forest = Forest::fit(&table.subset(&train), params, threads)?;
            let scores = forest.score(&table.subset(&held).matrix, threads)?;
            let proba: Vec<&[f64]> = scores.leaf.chunks(k).collect();
            // Two classes: one calibrator, for the second class.
            let calibrated: Vec<usize> = if k == 2 { vec![1] } else { (0..k).collect() };
            let calibrators = calibrated
                .into_iter()
                .map(|c| {
                    let score: Vec<f64> = proba.iter().map(|p| p[c]).collect();
                    let positive: Vec<bool> = held.iter().map(|&r| table.target[r] == c).collect();
                    Calibrator::fit(method, &score, &positive)
                })
                .collect();
            calibration.folds.push(Fold {
                trees: forest.trees.len(),
                calibrators,
            });
            match &mut model {
                None => model = Some(forest),
                Some(m) => {
                    m.trees.extend(forest.trees);
                    for (a, b) in m.importances.iter_mut().zip(&forest.importances) {
                        *a += b;
                    }
                }
            }
        }
        let mut model = model.expect("at least two folds");
        model.importances.iter_mut().for_each(|x| *x /= cv as f64);
        // Each fold's forest saw 1 - 1/cv of the rows: no out-of-bag rows over all of them.
        model.oob_score = None;
        model.calibration = Some(calibration);
        Ok(model)
    }

    /// Scores rows given as feature columns, `threads` at a time: each class's votes, the
    /// averaged leaf fractions (scikit-learn's predict_proba) and, for a calibrated model,
    /// the calibrated probabilities. Rows are copied into row-major blocks and every tree
    /// walks a whole block before the next tree, so a tree's nodes stay in cache.
    pub fn score(&self, matrix: &Matrix, threads: usize) -> Result<Scores> {
        const BLOCK: usize = 2048;
        let width: usize = self.features.iter().map(Feature::width).sum();
        if matrix.width() != width {
            return Err(ForestError::Data(format!(
                "{} feature columns given to a model of {width}",
                matrix.width()
            )));
        }
        let n = matrix.rows();
        let blocks = blocks(n, BLOCK);
        let parts = parallel_map(&blocks, threads, |&b| self.score_block(matrix, b));
        let mut all = Scores {
            classes: self.classes.len(),
            votes: Vec::with_capacity(n * self.classes.len()),
            leaf: Vec::with_capacity(n * self.classes.len()),
            calibrated: self.calibration.as_ref().map(|_| Vec::new()),
        };
        for p in parts {
            all.votes.extend(p.votes);
            all.leaf.extend(p.leaf);
            if let (Some(a), Some(c)) = (&mut all.calibrated, p.calibrated) {
                a.extend(c);
            }
        }
        Ok(all)
    }

    fn score_block(&self, matrix: &Matrix, (start, end): (usize, usize)) -> Scores {
        let (k, rows) = (self.classes.len(), end - start);
        let x = matrix.row_block(start, end);
        let mut votes = vec![0u32; rows * k];
        let mut leaf = vec![0.0f64; rows * k];
        // Trees in runs: one per calibration fold, or all of them.
        let runs: Vec<usize> = match &self.calibration {
            Some(c) => c.folds.iter().map(|f| f.trees).collect(),
            None => vec![self.trees.len()],
        };
        let mut calibrated = self.calibration.as_ref().map(|_| vec![0.0f64; rows * k]);
        let mut sum = vec![0.0f64; rows * k];
        let mut first = 0;
        for (fold, &count) in runs.iter().enumerate() {
            sum.fill(0.0);
            let trees = &self.trees[first..first + count];
            let mut add = |r: usize, leaf: Leaf| {
                votes[r * k + leaf.vote()] += 1;
                leaf.add_fractions(&mut sum[r * k..(r + 1) * k]);
            };
            // (All-dense rows skip the per-feature look-up of where a value is.)
            match x.dense_only() {
                Some((values, width)) => {
                    for tree in trees {
                        tree.leaves(rows, |r, f| values[r * width + f], &mut add);
                    }
                }
                None => {
                    for tree in trees {
                        tree.leaves(rows, |r, f| x.get(r, f), &mut add);
                    }
                }
            }
            first += count;
            for (l, s) in leaf.iter_mut().zip(&sum) {
                *l += s;
            }
            if let (Some(out), Some(c)) = (&mut calibrated, &self.calibration) {
                let folds = c.folds.len() as f64;
                for r in 0..rows {
                    let mean: Vec<f64> = sum[r * k..(r + 1) * k]
                        .iter()
                        .map(|s| s / count as f64)
                        .collect();
                    let p = Calibration::fold_proba(&c.folds[fold], &mean);
                    for (o, p) in out[r * k..(r + 1) * k].iter_mut().zip(p) {
                        *o += p / folds;
                    }
                }
            }
        }
        let n = self.trees.len() as f64;
        leaf.iter_mut().for_each(|x| *x /= n);
        Scores {
            classes: k,
            votes,
            leaf,
            calibrated,
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        model_file::to_bytes(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Forest> {
        model_file::from_bytes(bytes)
    }
}

/// Scores of many rows, `classes` numbers per row, row after row.
#[derive(Clone, Debug)]
pub struct Scores {
    pub classes: usize,
    /// Each class's votes (a tree votes for its leaf's top class).
    pub votes: Vec<u32>,
    /// The trees' leaf class fractions, averaged (scikit-learn's predict_proba).
    pub leaf: Vec<f64>,
    /// For a calibrated model: each fold's calibrated probabilities, averaged.
    pub calibrated: Option<Vec<f64>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Encoding;
    use crate::tree::{Child, Node};

    /// A stump on feature 0 at `t` with leaves `l` and `r` (class references).
    fn stump(t: f32, l: u32, r: u32, mixed: &[[f32; 3]]) -> Tree {
        Tree {
            root: 0,
            nodes: vec![Node {
                feature: 0,
                threshold: t,
                left: l,
                right: r,
            }],
            mixed: mixed.concat(),
            n_classes: 3,
        }
    }

    #[test]
    fn votes_and_leaf_probabilities_by_hand() {
        let m = Child::mixed;
        let forest = Forest {
            target: "y".into(),
            params: ForestParams::default(),
            features: vec![Feature {
                name: "x".into(),
                encoding: Encoding::Numeric,
            }],
            classes: vec!["a".into(), "b".into(), "c".into()],
            trees: vec![
                stump(1.0, m(0), Child::pure(2), &[[0.6, 0.4, 0.0]]),
                stump(2.0, m(0), m(1), &[[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]]),
                stump(0.5, Child::pure(0), m(0), &[[0.5, 0.3, 0.2]]),
                stump(3.0, m(0), Child::pure(1), &[[0.1, 0.2, 0.7]]),
            ],
            importances: vec![1.0],
            oob_score: None,
            calibration: None,
        };
        // Row 0, x = 0.8: leaves [0.6,0.4,0] -> a, [0.2,0.7,0.1] -> b, [0.5,0.3,0.2] -> a,
        // [0.1,0.2,0.7] -> c. Row 1, missing: right everywhere: c, c, a, b.
        let s = forest
            .score(&Matrix::dense(vec![vec![0.8, f32::NAN]]).unwrap(), 1)
            .unwrap();
        assert_eq!(s.votes, [2, 1, 1, 1, 1, 2]);
        let want = [
            (0.6 + 0.2 + 0.5 + 0.1) / 4.0,
            (0.4 + 0.7 + 0.3 + 0.2) / 4.0,
            (0.1 + 0.2 + 0.7) / 4.0,
        ];
        for (a, b) in s.leaf[..3].iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{:?}", s.leaf);
        }
        // Votes say a (2 of 4 = 50%); leaf probabilities say b (0.4 against 0.35).
        assert_eq!(argmax(&s.leaf[..3]), 1);
        // Rows walked together reach the leaves they reach one at a time (37 rows: more
        // than two sets of lanes), each row once.
        let x: Vec<f32> = (0..37).map(|i| i as f32 / 10.0).collect();
        for tree in &forest.trees {
            let mut reached = Vec::new();
            tree.leaves(
                x.len(),
                |r, _| x[r],
                |r, leaf| reached.push((r, leaf.vote())),
            );
            reached.sort_unstable();
            let one_by_one: Vec<(usize, usize)> = (0..x.len())
                .map(|r| (r, tree.leaf(|_| x[r]).vote()))
                .collect();
            assert_eq!(reached, one_by_one);
        }
        // The model file round-trips, and damage is caught; so does a version 2 file (an
        // FNV-1a checksum), which is still read.
        let bytes = forest.to_bytes().unwrap();
        let v2 = model_file::as_version_2(&bytes);
        assert!(String::from_utf8_lossy(&v2)
            .starts_with(r#"{"format":"mlkit-forest","version":2,"rng":1,"checksum":"fnv1a64:"#));
        for bytes in [&bytes, &v2] {
            let back = Forest::from_bytes(bytes).unwrap();
            assert_eq!(back.trees, forest.trees);
            let mut bad = bytes.clone();
            let at = bad.len() - 10;
            bad[at] ^= 1;
            assert!(Forest::from_bytes(&bad)
                .unwrap_err()
                .to_string()
                .contains("damaged"));
            for cut in [10, bytes.len() / 2, bytes.len() - 3] {
                assert!(Forest::from_bytes(&bytes[..cut]).is_err());
            }
        }
    }
}
