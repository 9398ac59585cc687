//! The model file: a JSON header line (format, version, RNG version, checksum), then the body
//! the checksum covers: the model's metadata as one JSON line (schema, classes, parameters,
//! importances, calibration; readable with `head -2`), then the trees in binary,
//! little-endian: per tree its root reference, node count and mixed-leaf count, the nodes
//! (feature, threshold, left, right: 16 bytes), and the mixed leaves' class fractions.
//!
//! Every count is checked against the bytes that remain before anything is allocated, and
//! every tree is validated, so a damaged or hostile file is an error, never a panic.

use serde::{Deserialize, Serialize};

use crate::data::Encoding;
use crate::forest::Forest;
use crate::rng::RNG_VERSION;
use crate::tree::{Node, Tree};
use crate::{ForestError, Result};

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    rng: u32,
    checksum: String,
}

const FORMAT: &str = "mlkit-forest";
/// 1: JSON trees; 2: binary compact trees, FNV-1a checksum; 3: the same with a CRC-32
/// checksum (version 2 files are still read).
const VERSION: u32 = 3;

/// The body's checksum as a file of `version` records it: enough to catch a damaged file
/// (not an attacker). Version 3 moved from FNV-1a, a multiply per byte that took a third of
/// loading a large model, to CRC-32, which runs at memory speed.
fn checksum(version: u32, body: &[u8]) -> String {
    if version == 2 {
        let fnv = body.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("fnv1a64:{fnv:016x}")
    } else {
        format!("crc32:{:08x}", crc32fast::hash(body))
    }
}

fn model_error(e: impl std::fmt::Display) -> ForestError {
    ForestError::Model(e.to_string())
}

pub fn to_bytes(forest: &Forest) -> Result<Vec<u8>> {
    let mut body = serde_json::to_vec(forest).map_err(model_error)?;
    body.push(b'\n');
    for t in &forest.trees {
        for v in [
            t.root,
            t.nodes.len() as u32,
            (t.mixed.len() / t.n_classes) as u32,
        ] {
            body.extend(v.to_le_bytes());
        }
        for n in &t.nodes {
            body.extend(n.feature.to_le_bytes());
            body.extend(n.threshold.to_le_bytes());
            body.extend(n.left.to_le_bytes());
            body.extend(n.right.to_le_bytes());
        }
        for x in &t.mixed {
            body.extend(x.to_le_bytes());
        }
    }
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        rng: RNG_VERSION,
        checksum: checksum(VERSION, &body),
    };
    let mut out = serde_json::to_vec(&header).map_err(model_error)?;
    out.push(b'\n');
    out.extend(body);
    Ok(out)
}

/// Reads little-endian words off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32> {
        let (word, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or_else(|| model_error("the trees are truncated"))?;
        self.0 = rest;
        Ok(u32::from_le_bytes(*word))
    }

    /// The next `n` bytes, which [`Reader::expect`] has checked are there.
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken
    }

    /// Fails unless `count` items of `size` bytes remain (checked before allocating).
    fn expect(&self, count: u32, size: usize) -> Result<usize> {
        let n = count as usize;
        if n.checked_mul(size).is_none_or(|b| b > self.0.len()) {
            return Err(model_error(format!(
                "a tree claims {n} items, more than the file holds"
            )));
        }
        Ok(n)
    }
}

pub fn from_bytes(bytes: &[u8]) -> Result<Forest> {
    let split = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| model_error("not an mlkit forest file (no header line)"))?;
    let header: Header = serde_json::from_slice(&bytes[..split])
        .map_err(|e| model_error(format!("not an mlkit forest file: {e}")))?;
    if header.format != FORMAT
        || !(2..=VERSION).contains(&header.version)
        || header.rng != RNG_VERSION
    {
        return Err(model_error(format!(
            "format {:?} version {} (rng {}) is not {FORMAT} version {VERSION} (rng {RNG_VERSION}); \
             retrain the model with this mlkit",
            header.format, header.version, header.rng
        )));
    }
    let body = &bytes[split + 1..];
    let sum = checksum(header.version, body);
    if sum != header.checksum {
        return Err(model_error(format!(
            "checksum mismatch ({} in the file, {sum} computed): the file is damaged",
            header.checksum
        )));
    }
    let meta_end = body
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| model_error("no model metadata line"))?;
    let mut forest: Forest = serde_json::from_slice(&body[..meta_end])
        .map_err(|e| model_error(format!("malformed model: {e}")))?;
    let k = forest.classes.len();
    if k == 0 {
        return Err(model_error("a model with no classes"));
    }
    for f in &mut forest.features {
        if let Encoding::Hashed(t) = &mut f.encoding {
            // Files written before buckets were kept only where training texts fell keep
            // every bucket.
            if t.kept.is_empty() && t.idf.len() == t.buckets && t.buckets <= u32::MAX as usize {
                t.kept = (0..t.buckets as u32).collect();
            }
        }
        f.validate().map_err(model_error)?;
    }
    let width = forest
        .features
        .iter()
        .try_fold(0usize, |w, f| w.checked_add(f.width()))
        .ok_or_else(|| model_error("the features are too wide"))?;
    if width == 0 {
        return Err(model_error("a model with no features"));
    }
    let mut r = Reader(&body[meta_end + 1..]);
    while !r.0.is_empty() {
        let root = r.u32()?;
        let n_nodes = r.u32()?;
        let n_mixed = r.u32()?;
        let n_nodes = r.expect(n_nodes, 16)?;
        let word =
            |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let nodes = r
            .take(n_nodes * 16)
            .chunks_exact(16)
            .map(|b| Node {
                feature: word(b, 0),
                threshold: f32::from_bits(word(b, 4)),
                left: word(b, 8),
                right: word(b, 12),
            })
            .collect();
        let n_values = (n_mixed as usize)
            .checked_mul(k)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| model_error("a tree claims too many leaves"))?;
        let n_values = r.expect(n_values, 4)?;
        let mixed = r
            .take(n_values * 4)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let tree = Tree {
            root,
            nodes,
            mixed,
            n_classes: k,
        };
        let i = forest.trees.len();
        tree.validate(width)
            .map_err(|e| model_error(format!("tree {i}: {e}")))?;
        forest.trees.push(tree);
    }
    if forest.trees.is_empty() {
        return Err(model_error("a model with no trees"));
    }
    if let Some(c) = &forest.calibration {
        let per_fold = if k == 2 { 1 } else { k };
        let trees: usize = c.folds.iter().map(|f| f.trees).sum();
        let bad = c.folds.is_empty()
            || trees != forest.trees.len()
            || c.folds.iter().any(|f| {
                f.trees == 0
                    || f.calibrators.len() != per_fold
                    || f.calibrators.iter().any(|c| c.validate().is_err())
            });
        if bad {
            return Err(model_error(
                "the calibration does not fit the trees and classes",
            ));
        }
    }
    Ok(forest)
}

/// A version 3 file rewritten as version 2 wrote it (the same body, an FNV-1a checksum).
#[cfg(test)]
pub(crate) fn as_version_2(bytes: &[u8]) -> Vec<u8> {
    let split = bytes
        .iter()
        .position(|&b| b == b'\n')
        .expect("a header line");
    let body = &bytes[split + 1..];
    let header = Header {
        format: FORMAT.into(),
        version: 2,
        rng: RNG_VERSION,
        checksum: checksum(2, body),
    };
    let mut out = serde_json::to_vec(&header).expect("a header serialises");
    out.push(b'\n');
    out.extend(body);
    out
}
