//! Entity-level scores exactly as seqeval computes them by default (`f1_score`,
//! `classification_report` without `mode="strict"`): chunks from IOB2, IOB1 or IOBES tags
//! with seqeval's lenient rules, an entity counted right only when type, start and end match.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use mlkit_metrics::precision_recall_f1;
use serde::Serialize;

use crate::error::{NerError, Result};

/// A chunk: (type, first token, last token).
pub type Chunk = (String, usize, usize);

/// seqeval.metrics.sequence_labeling.get_entities for one sentence.
pub fn chunks(tags: &[String]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let (mut prev_tag, mut prev_type, mut begin) = ('O', String::from(""), 0usize);
    let o = String::from("O");
    for (i, chunk) in tags.iter().chain(std::iter::once(&o)).enumerate() {
        let tag = chunk.chars().next().unwrap_or('O');
        // chunk[1:].split('-', maxsplit=1)[-1] or '_'
        let rest: String = chunk.chars().skip(1).collect();
        let ty = match rest.split_once('-') {
            Some((_, t)) => t.to_string(),
            None => rest,
        };
        let ty = if ty.is_empty() { "_".to_string() } else { ty };
        if end_of_chunk(prev_tag, tag, &prev_type, &ty) {
            out.push((prev_type.clone(), begin, i - 1));
        }
        if start_of_chunk(prev_tag, tag, &prev_type, &ty) {
            begin = i;
        }
        prev_tag = tag;
        prev_type = ty;
    }
    out
}

fn end_of_chunk(prev: char, tag: char, prev_type: &str, ty: &str) -> bool {
    matches!(prev, 'E' | 'S')
        || (prev == 'B' && matches!(tag, 'B' | 'S' | 'O'))
        || (prev == 'I' && matches!(tag, 'B' | 'S' | 'O'))
        || (prev != 'O' && prev != '.' && prev_type != ty)
}

fn start_of_chunk(prev: char, tag: char, prev_type: &str, ty: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_type != ty)
}

/// Precision, recall, F1 and support (gold entities) of one type or of all.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
    pub predicted: usize,
    pub correct: usize,
}

impl Scores {
    fn from_counts(correct: usize, predicted: usize, support: usize) -> Scores {
        let (precision, recall, f1) = precision_recall_f1(correct, predicted, support);
        Scores {
            precision,
            recall,
            f1,
            support,
            predicted,
            correct,
        }
    }
}

/// The micro average over all entities, and each type's scores (sorted by type).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub overall: Scores,
    pub per_type: BTreeMap<String, Scores>,
}

/// Scores predicted tag sequences against gold ones, sentence by sentence.
pub fn evaluate(gold: &[Vec<String>], predicted: &[Vec<String>]) -> Report {
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for (g, p) in gold.iter().zip(predicted) {
        let gs: HashSet<Chunk> = chunks(g).into_iter().collect();
        let ps: HashSet<Chunk> = chunks(p).into_iter().collect();
        for c in &gs {
            counts.entry(c.0.clone()).or_default().2 += 1;
        }
        for c in &ps {
            let e = counts.entry(c.0.clone()).or_default();
            e.1 += 1;
            if gs.contains(c) {
                e.0 += 1;
            }
        }
    }
    let (mut c, mut p, mut s) = (0, 0, 0);
    let per_type = counts
        .into_iter()
        .map(|(ty, (correct, predicted, support))| {
            c += correct;
            p += predicted;
            s += support;
            (ty, Scores::from_counts(correct, predicted, support))
        })
        .collect();
    Report {
        overall: Scores::from_counts(c, p, s),
        per_type,
    }
}

/// Sentences of a CoNLL file: one token a line with its columns separated by white space,
/// blank lines between sentences, `-DOCSTART-` lines skipped.
#[derive(Clone, Debug, Default)]
pub struct Conll {
    pub words: Vec<Vec<String>>,
    pub tags: Vec<Vec<String>>,
}

/// Reads CoNLL text. The tag column is `tag_column` (0-based) if given, else the last column
/// whose every value looks like a tag (O, or a B/I/E/S/L/U prefix and a type), so both
/// `TOKEN POS CHUNK TAG` and `TOKEN TAG 0` layouts work.
pub fn read_conll(path: &Path, text: &str, tag_column: Option<usize>) -> Result<Conll> {
    let bad = |line: usize, message: String| NerError::Gold {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut rows: Vec<(usize, Vec<&str>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first().is_some_and(|c| *c == "-DOCSTART-") {
            rows.push((n + 1, Vec::new()));
            continue;
        }
        rows.push((n + 1, cols));
    }
    let width = rows.iter().map(|(_, c)| c.len()).filter(|&w| w > 0).min();
    let Some(width) = width else {
        return Ok(Conll::default());
    };
    if width < 2 {
        let (line, _) = rows
            .iter()
            .find(|(_, c)| c.len() == 1)
            .expect("a row of width 1");
        return Err(bad(*line, "a token line needs a token and a tag".into()));
    }
    let column = match tag_column {
        Some(c) if c >= 1 && c < width => c,
        Some(c) => {
            return Err(bad(
                1,
                format!(
                    "tag column {c} is not a tag column (columns 1..{})",
                    width - 1
                ),
            ))
        }
        // The last column whose values are mostly tags; every value in it is then checked,
        // so that one bad tag is reported where it is, not as a column that has none.
        None => (1..width)
            .rev()
            .find(|&c| {
                let values = rows.iter().filter(|(_, cols)| !cols.is_empty());
                let tags = values.clone().filter(|(_, cols)| looks_like_tag(cols[c]));
                2 * tags.count() > values.count()
            })
            .ok_or_else(|| {
                bad(
                    1,
                    "no column holds IOB tags (O, B-TYPE, I-TYPE, ...); name the tag column \
                     (counting the token column as 0)"
                        .into(),
                )
            })?,
    };
    if let Some((line, cols)) = rows
        .iter()
        .find(|(_, cols)| !cols.is_empty() && !looks_like_tag(cols[column]))
    {
        return Err(bad(
            *line,
            format!(
                "{:?} in column {column} is not an IOB tag (O, B-TYPE, I-TYPE, ...)",
                cols[column]
            ),
        ));
    }
    let mut out = Conll::default();
    let (mut words, mut tags) = (Vec::new(), Vec::new());
    for (_, cols) in rows {
        if cols.is_empty() {
            if !words.is_empty() {
                out.words.push(std::mem::take(&mut words));
                out.tags.push(std::mem::take(&mut tags));
            }
            continue;
        }
        words.push(cols[0].to_string());
        tags.push(cols[column].to_string());
    }
    if !words.is_empty() {
        out.words.push(words);
        out.tags.push(tags);
    }
    Ok(out)
}

fn looks_like_tag(s: &str) -> bool {
    s == "O"
        || s.split_once('-')
            .is_some_and(|(p, t)| matches!(p, "B" | "I" | "E" | "S" | "L" | "U") && !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn chunks_follow_seqeval_for_iob2_iob1_and_iobes() {
        // Cases from seqeval's own test-suite.
        let c = chunks(&tags("B-PER I-PER O B-LOC"));
        assert_eq!(c, [("PER".into(), 0, 1), ("LOC".into(), 3, 3)]);
        // An I- without a B- starts an entity; a type change ends one.
        let c = chunks(&tags("I-PER I-LOC O"));
        assert_eq!(c, [("PER".into(), 0, 0), ("LOC".into(), 1, 1)]);
        let c = chunks(&tags("S-PER B-ORG E-ORG O B-LOC I-LOC E-LOC"));
        assert_eq!(
            c,
            [
                ("PER".into(), 0, 0),
                ("ORG".into(), 1, 2),
                ("LOC".into(), 4, 6)
            ]
        );
    }

    #[test]
    fn micro_and_per_type_scores() {
        let gold = vec![tags("B-PER I-PER O B-LOC"), tags("B-ORG O")];
        let pred = vec![tags("B-PER I-PER O B-ORG"), tags("B-ORG O")];
        let r = evaluate(&gold, &pred);
        assert_eq!(
            (r.overall.correct, r.overall.predicted, r.overall.support),
            (2, 3, 3)
        );
        assert!((r.overall.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.per_type["LOC"].recall, 0.0);
        assert_eq!(r.per_type["ORG"].precision, 0.5);
    }

    #[test]
    fn conll_tag_column_is_found() {
        let text =
            "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n";
        let c = read_conll(Path::new("x"), text, None).unwrap();
        assert_eq!(c.words, [tags("EU rejects"), tags("Peter")]);
        assert_eq!(c.tags, [tags("B-ORG O"), tags("B-PER")]);
        let c = read_conll(Path::new("x"), "EU B-ORG 0\nrejects O 0\n", None).unwrap();
        assert_eq!(c.tags, [tags("B-ORG O")]);
    }

    #[test]
    fn a_bad_tag_is_named_with_its_line() {
        let text = "EU B-ORG 0\nrejects O 0\n\nPeter B-PRS 0\nsays BAD 0\nso O 0\n";
        let e = read_conll(Path::new("x"), text, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(":5") && e.contains("\"BAD\""), "{e}");
        let e = read_conll(Path::new("x"), text, Some(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"BAD\""), "{e}");
        // A column of zeros is no tag column, named or not.
        let text = "EU B-ORG 0\nrejects O 0\n";
        let e = read_conll(Path::new("x"), text, Some(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"0\" in column 2"), "{e}");
    }
}
