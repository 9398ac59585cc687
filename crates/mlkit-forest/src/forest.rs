//! A forest of trees: bootstrap samples, class weights, out-of-bag score, per-tree votes and
//! averaged leaf probabilities; the versioned, checksummed model file.

use mlkit_core::metrics::argmax;
use serde::{Deserialize, Serialize};

use crate::data::{Feature, Table};
use crate::rng::{Rng, RNG_VERSION};
use crate::tree::{grow, Training, Tree, TreeParams};
use crate::{ForestError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClassWeight {
    None,
    /// n / (classes x count of the class), over the whole training set.
    Balanced,
    /// The same over each tree's bootstrap sample.
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
    pub trees: Vec<Tree>,
    /// Mean decrease in impurity, normalised to sum to 1 (scikit-learn's feature_importances_).
    pub importances: Vec<f64>,
    pub oob_score: Option<f64>,
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
            return Err(ForestError::Usage("--trees must be at least 1".into()));
        }
        let k = table.classes.len();
        let nf = table.features.len();
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
        let threads = threads.clamp(1, params.trees);
        // (tree, importances, out-of-bag rows) per tree index.
        type Grown = (Tree, Vec<f64>, Vec<u32>);
        let mut grown: Vec<Option<Grown>> = vec![None; params.trees];
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (tree_params, balanced) = (&tree_params, &balanced);
                    scope.spawn(move || {
                        (t..params.trees)
                            .step_by(threads)
                            .map(|i| {
                                let mut rng = Rng::new(params.seed, i as u64);
                                let (weight, rows) = sample(table, params, &mut rng, balanced);
                                let oob: Vec<u32> = (0..table.rows() as u32)
                                    .filter(|&r| weight[r as usize] == 0.0)
                                    .collect();
                                let mut imp = vec![0.0; nf];
                                let data = Training {
                                    columns: &table.columns,
                                    target: &table.target,
                                    n_classes: k,
                                    weight: &weight,
                                };
                                let tree = grow(&data, rows, tree_params, &mut rng, &mut imp);
                                (i, (tree, imp, oob))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                for (i, g) in h.join().expect("a training thread panicked") {
                    grown[i] = Some(g);
                }
            }
        });
        let grown: Vec<Grown> = grown
            .into_iter()
            .map(|g| g.expect("every tree grown"))
            .collect();
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
        };
        let mut oob_sum = vec![vec![0.0f64; k]; if params.oob { table.rows() } else { 0 }];
        for (tree, _, oob) in grown {
            if params.oob {
                for &r in &oob {
                    let leaf = tree.leaf(|f| table.columns[f][r as usize]);
                    for (a, p) in oob_sum[r as usize].iter_mut().zip(tree.proba(leaf)) {
                        *a += *p as f64;
                    }
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

    /// Each class's number of tree votes for the row (a tree votes for its leaf's top class).
    pub fn votes(&self, get: impl Fn(usize) -> f32) -> Vec<usize> {
        self.tally(get).0
    }

    /// scikit-learn's predict_proba: the trees' leaf class fractions, averaged.
    pub fn leaf_proba(&self, get: impl Fn(usize) -> f32) -> Vec<f64> {
        self.tally(get).1
    }

    /// Votes and averaged leaf fractions from one walk down every tree.
    pub fn tally(&self, get: impl Fn(usize) -> f32) -> (Vec<usize>, Vec<f64>) {
        let mut votes = vec![0; self.classes.len()];
        let mut sum = vec![0.0; self.classes.len()];
        for t in &self.trees {
            let p = t.proba(t.leaf(&get));
            votes[argmax(p)] += 1;
            for (a, x) in sum.iter_mut().zip(p) {
                *a += *x as f64;
            }
        }
        let n = self.trees.len() as f64;
        sum.iter_mut().for_each(|x| *x /= n);
        (votes, sum)
    }
}

/// The model file's first line: the format, its version and the RNG's, and the checksum of
/// the model's JSON, which follows on the next line byte for byte.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    rng: u32,
    checksum: String,
}

const FORMAT: &str = "mlkit-forest";
const VERSION: u32 = 1;

/// FNV-1a, 64 bits: enough to catch a damaged file (not an attacker).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Forest {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(self).map_err(|e| ForestError::Model(e.to_string()))?;
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
            rng: RNG_VERSION,
            checksum: format!("fnv1a64:{:016x}", fnv1a(&body)),
        };
        let mut out = serde_json::to_vec(&header).map_err(|e| ForestError::Model(e.to_string()))?;
        out.push(b'\n');
        out.extend(body);
        out.push(b'\n');
        Ok(out)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Forest> {
        let split = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| {
            ForestError::Model("not an mlkit forest file (no header line)".into())
        })?;
        let header: Header = serde_json::from_slice(&bytes[..split])
            .map_err(|e| ForestError::Model(format!("not an mlkit forest file: {e}")))?;
        if header.format != FORMAT || header.version != VERSION || header.rng != RNG_VERSION {
            return Err(ForestError::Model(format!(
                "format {:?} version {} (rng {}) is not {FORMAT} version {VERSION} (rng {RNG_VERSION})",
                header.format, header.version, header.rng
            )));
        }
        let body = bytes[split + 1..]
            .strip_suffix(b"\n")
            .unwrap_or(&bytes[split + 1..]);
        let sum = format!("fnv1a64:{:016x}", fnv1a(body));
        if sum != header.checksum {
            return Err(ForestError::Model(format!(
                "checksum mismatch ({} in the file, {sum} computed): the file is damaged",
                header.checksum
            )));
        }
        let forest: Forest = serde_json::from_slice(body)
            .map_err(|e| ForestError::Model(format!("malformed model: {e}")))?;
        let k = forest.classes.len();
        for (i, t) in forest.trees.iter().enumerate() {
            if t.n_classes != k {
                return Err(ForestError::Model(format!(
                    "tree {i} has {} classes, not {k}",
                    t.n_classes
                )));
            }
            t.validate(forest.features.len())
                .map_err(|e| ForestError::Model(format!("tree {i}: {e}")))?;
        }
        if forest.trees.is_empty() || k == 0 {
            return Err(ForestError::Model(
                "a model with no trees or no classes".into(),
            ));
        }
        Ok(forest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Encoding;
    use crate::tree::LEAF;

    /// A stump on feature 0 at `t`: left leaf `l`, right leaf `r` (class fractions).
    fn stump(t: f32, l: [f32; 3], r: [f32; 3]) -> Tree {
        Tree {
            feature: vec![0, LEAF, LEAF],
            threshold: vec![t, 0.0, 0.0],
            left: vec![1, 0, 0],
            right: vec![2, 0, 0],
            value: [[0.0; 3], l, r].concat(),
            n_classes: 3,
        }
    }

    #[test]
    fn votes_and_leaf_probabilities_by_hand() {
        let forest = Forest {
            target: "y".into(),
            params: ForestParams::default(),
            features: vec![Feature {
                name: "x".into(),
                encoding: Encoding::Numeric,
            }],
            classes: vec!["a".into(), "b".into(), "c".into()],
            trees: vec![
                stump(1.0, [0.6, 0.4, 0.0], [0.0, 0.0, 1.0]),
                stump(2.0, [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]),
                stump(0.5, [1.0, 0.0, 0.0], [0.5, 0.3, 0.2]),
                stump(3.0, [0.1, 0.2, 0.7], [0.0, 1.0, 0.0]),
            ],
            importances: vec![1.0],
            oob_score: None,
        };
        // x = 0.8: leaves [0.6,0.4,0] -> a, [0.2,0.7,0.1] -> b, [0.5,0.3,0.2] -> a, [0.1,0.2,0.7] -> c.
        assert_eq!(forest.votes(|_| 0.8), [2, 1, 1]);
        let p = forest.leaf_proba(|_| 0.8);
        let want = [
            (0.6 + 0.2 + 0.5 + 0.1) / 4.0,
            (0.4 + 0.7 + 0.3 + 0.2) / 4.0,
            (0.1 + 0.2 + 0.7) / 4.0,
        ];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{p:?}");
        }
        // Votes say a (2 of 4 = 50%); leaf probabilities say b (0.4 against 0.35).
        assert_eq!(argmax(&p), 1);
        // Missing values go right everywhere: c, c, a, b.
        assert_eq!(forest.votes(|_| f32::NAN), [1, 1, 2]);
        // The model file round-trips, and damage is caught.
        let bytes = forest.to_bytes().unwrap();
        let back = Forest::from_bytes(&bytes).unwrap();
        assert_eq!(back.trees, forest.trees);
        let mut bad = bytes.clone();
        let at = bad.len() - 10;
        bad[at] ^= 1;
        assert!(Forest::from_bytes(&bad)
            .unwrap_err()
            .to_string()
            .contains("damaged"));
        assert!(Forest::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    }
}
