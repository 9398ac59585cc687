//! From per-token label scores to entities, exactly as transformers'
//! `TokenClassificationPipeline` post-processes them (gather_pre_entities, aggregate,
//! aggregate_words, group_entities, aggregate_overlapping_entities).

use std::str::FromStr;

use mlkit_metrics::argmax;

/// How tokens become entities (the pipeline's `aggregation_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Aggregation {
    /// One entity per token, with its B-/I- label.
    None,
    /// Adjacent tokens of the same type are grouped (a B- starts a new group).
    Simple,
    /// Words first (sub-words take the first sub-word's label), then grouping.
    First,
    /// Words take the label of their averaged sub-word scores, then grouping.
    Average,
    /// Words take the label of their most confident sub-word, then grouping.
    Max,
}

impl FromStr for Aggregation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "none" => Aggregation::None,
            "simple" => Aggregation::Simple,
            "first" => Aggregation::First,
            "average" => Aggregation::Average,
            "max" => Aggregation::Max,
            _ => {
                return Err(format!(
                    "unknown aggregation {s:?}: none, simple, first, average, max"
                ))
            }
        })
    }
}

/// One non-special token of one window.
#[derive(Clone, Debug)]
pub struct PreEntity {
    /// The token as the vocabulary spells it ("##son"), or the text it covers for [UNK].
    pub word: String,
    /// Softmax over the labels.
    pub scores: Vec<f32>,
    /// Character offsets in the document.
    pub start: usize,
    pub end: usize,
    /// Position in its window, special tokens counted.
    pub index: usize,
    pub is_subword: bool,
}

/// An entity as the pipeline reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// With `Aggregation::None` the token's label ("B-PER"), else the group's type ("PER").
    pub label: String,
    pub score: f32,
    /// The tokens decoded back to text, as the pipeline's `word`.
    pub word: String,
    /// Character offsets in the document, end exclusive.
    pub start: usize,
    pub end: usize,
    /// The token's position in its window (`Aggregation::None` only).
    pub index: Option<usize>,
}

/// Turns tokens into words: `decode` is the tokenizer's `convert_tokens_to_string`.
pub type Decode<'a> = &'a dyn Fn(&[String]) -> String;

/// One window's entities, labels in `ignore` dropped (the pipeline's default is ["O"]).
pub fn aggregate(
    pre: &[PreEntity],
    strategy: Aggregation,
    labels: &[String],
    decode: Decode,
    ignore: &[&str],
) -> Vec<Entity> {
    let tokens: Vec<Entity> = match strategy {
        Aggregation::None | Aggregation::Simple => pre
            .iter()
            .map(|p| {
                let best = argmax(&p.scores);
                Entity {
                    label: labels[best].clone(),
                    score: p.scores[best],
                    word: p.word.clone(),
                    start: p.start,
                    end: p.end,
                    index: Some(p.index),
                }
            })
            .collect(),
        _ => aggregate_words(pre, strategy, labels, decode),
    };
    let entities = if strategy == Aggregation::None {
        tokens
    } else {
        group_entities(&tokens, decode)
    };
    entities
        .into_iter()
        .filter(|e| !ignore.contains(&e.label.as_str()))
        .collect()
}

fn max_of(v: &[f32]) -> f32 {
    v.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

fn aggregate_words(
    pre: &[PreEntity],
    strategy: Aggregation,
    labels: &[String],
    decode: Decode,
) -> Vec<Entity> {
    let mut words = Vec::new();
    let mut group: Vec<&PreEntity> = Vec::new();
    for p in pre {
        if !group.is_empty() && !p.is_subword {
            words.push(aggregate_word(&group, strategy, labels, decode));
            group.clear();
        }
        group.push(p);
    }
    if !group.is_empty() {
        words.push(aggregate_word(&group, strategy, labels, decode));
    }
    words
}

fn aggregate_word(
    group: &[&PreEntity],
    strategy: Aggregation,
    labels: &[String],
    decode: Decode,
) -> Entity {
    let tokens: Vec<String> = group.iter().map(|p| p.word.clone()).collect();
    let (label, score) = match strategy {
        Aggregation::Max => {
            // Python's max(): the first sub-word with the highest top score.
            let mut best = group[0];
            for p in &group[1..] {
                if max_of(&p.scores) > max_of(&best.scores) {
                    best = p;
                }
            }
            let i = argmax(&best.scores);
            (i, best.scores[i])
        }
        Aggregation::Average => {
            let n = labels.len();
            let mean: Vec<f32> = (0..n)
                .map(|k| nanmean(group.iter().map(|p| p.scores[k])))
                .collect();
            let i = argmax(&mean);
            (i, mean[i])
        }
        // First (None and Simple never reach words).
        _ => {
            let i = argmax(&group[0].scores);
            (i, group[0].scores[i])
        }
    };
    Entity {
        label: labels[label].clone(),
        score,
        word: decode(&tokens),
        start: group[0].start,
        end: group[group.len() - 1].end,
        index: None,
    }
}

/// numpy's nanmean: NaNs left out (accumulated in f64 here; numpy sums f32 pairwise).
fn nanmean(values: impl Iterator<Item = f32>) -> f32 {
    let (mut sum, mut n) = (0f64, 0usize);
    for v in values.filter(|v| !v.is_nan()) {
        sum += v as f64;
        n += 1;
    }
    if n == 0 {
        f32::NAN
    } else {
        (sum / n as f64) as f32
    }
}

/// The pipeline's get_tag: "B-X" and "I-X" split; any other label is a continuation of itself.
fn bio(label: &str) -> (char, &str) {
    if let Some(t) = label.strip_prefix("B-") {
        ('B', t)
    } else if let Some(t) = label.strip_prefix("I-") {
        ('I', t)
    } else {
        ('I', label)
    }
}

fn group_entities(tokens: &[Entity], decode: Decode) -> Vec<Entity> {
    let mut groups = Vec::new();
    let mut current: Vec<&Entity> = Vec::new();
    for e in tokens {
        if let Some(last) = current.last() {
            let (b, tag) = bio(&e.label);
            let (_, last_tag) = bio(&last.label);
            if !(tag == last_tag && b != 'B') {
                groups.push(group_sub_entities(&current, decode));
                current.clear();
            }
        }
        current.push(e);
    }
    if !current.is_empty() {
        groups.push(group_sub_entities(&current, decode));
    }
    groups
}

fn group_sub_entities(group: &[&Entity], decode: Decode) -> Entity {
    let first = &group[0].label;
    // Python's label.split("-", 1)[-1].
    let label = first.split_once('-').map_or(first.as_str(), |(_, t)| t);
    let tokens: Vec<String> = group.iter().map(|e| e.word.clone()).collect();
    Entity {
        label: label.to_string(),
        score: nanmean(group.iter().map(|e| e.score)),
        word: decode(&tokens),
        start: group[0].start,
        end: group[group.len() - 1].end,
        index: None,
    }
}

/// Entities found by overlapping windows, as the pipeline merges them: by start; of two that
/// overlap the longer wins, then the higher score.
pub fn resolve_overlaps(mut entities: Vec<Entity>) -> Vec<Entity> {
    if entities.is_empty() {
        return entities;
    }
    // Stable, as Python's sorted().
    entities.sort_by_key(|e| e.start);
    let mut out = Vec::new();
    let mut iter = entities.into_iter();
    let mut previous = iter.next().expect("not empty");
    // The pipeline compares the first entity with itself first; that changes nothing.
    for e in iter {
        if previous.start <= e.start && e.start < previous.end {
            let (len, prev_len) = (e.end - e.start, previous.end - previous.start);
            if len > prev_len || (len == prev_len && e.score > previous.score) {
                previous = e;
            }
        } else {
            out.push(std::mem::replace(&mut previous, e));
        }
    }
    out.push(previous);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn join(tokens: &[String]) -> String {
        tokens.join(" ").replace(" ##", "")
    }

    fn token(word: &str, start: usize, best: usize, p: f32, sub: bool) -> PreEntity {
        let mut scores = vec![(1.0 - p) / 4.0; 5];
        scores[best] = p;
        PreEntity {
            word: word.into(),
            scores,
            start,
            end: start + word.trim_start_matches("##").len(),
            index: start,
            is_subword: sub,
        }
    }

    #[test]
    fn b_starts_a_new_group_and_subwords_follow_their_word() {
        // "jo ##hn smith acme": John Smith is one PER; "##hn" says ORG but FIRST overrides it.
        let pre = vec![
            token("jo", 0, 1, 0.9, false),
            token("##hn", 2, 3, 0.6, true),
            token("smith", 5, 2, 0.8, false),
            token("acme", 11, 1, 0.7, false),
        ];
        let l = labels();
        let first = aggregate(&pre, Aggregation::First, &l, &join, &["O"]);
        assert_eq!(first.len(), 2);
        assert_eq!(
            (first[0].label.as_str(), first[0].word.as_str()),
            ("PER", "john smith")
        );
        assert_eq!((first[0].start, first[0].end), (0, 10));
        assert!((first[0].score - 0.85).abs() < 1e-6);
        assert_eq!((first[1].label.as_str(), first[1].start), ("PER", 11));
        // SIMPLE keeps the sub-word's own label: "jo" PER, "##hn" ORG, "smith" I-PER alone.
        let simple = aggregate(&pre, Aggregation::Simple, &l, &join, &["O"]);
        let got: Vec<&str> = simple.iter().map(|e| e.word.as_str()).collect();
        assert_eq!(got, ["jo", "##hn", "smith", "acme"]);
        // MAX takes the most confident sub-word (0.9 PER) for the word.
        let max = aggregate(&pre, Aggregation::Max, &l, &join, &["O"]);
        assert_eq!(max[0].word, "john smith");
    }

    #[test]
    fn plain_labels_group_as_continuations() {
        // Labels without B-/I- (as some checkpoints have): adjacent equal labels join, as
        // get_tag makes every plain label an "I-".
        let l: Vec<String> = ["O", "PER", "LOC", "x", "y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let pre = vec![
            token("ann", 0, 1, 0.9, false),
            token("lee", 4, 1, 0.7, false),
            token("paris", 8, 2, 0.8, false),
        ];
        let got = aggregate(&pre, Aggregation::Simple, &l, &join, &["O"]);
        let spans: Vec<(&str, &str)> = got
            .iter()
            .map(|e| (e.label.as_str(), e.word.as_str()))
            .collect();
        assert_eq!(spans, [("PER", "ann lee"), ("LOC", "paris")]);
    }

    #[test]
    fn overlapping_windows_keep_the_longer_then_the_surer() {
        let e = |start, end, score| Entity {
            label: "PER".into(),
            score,
            word: String::new(),
            start,
            end,
            index: None,
        };
        let got = resolve_overlaps(vec![
            e(10, 20, 0.5),
            e(0, 4, 0.9),
            e(10, 14, 0.99),
            e(0, 4, 0.95),
        ]);
        let spans: Vec<(usize, usize, f32)> =
            got.iter().map(|e| (e.start, e.end, e.score)).collect();
        assert_eq!(spans, [(0, 4, 0.95), (10, 20, 0.5)]);
    }
}
