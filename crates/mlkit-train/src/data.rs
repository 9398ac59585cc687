//! Training data as the trainer sees it: tokenized inputs with their targets. NER data comes
//! as CoNLL (IOB1, IOB2 or IOBES; normalised to IOB2, the scheme `mlkit ner` decodes) or as
//! JSONL with character spans (spaCy's and Argilla's export); labels go on each word's first
//! sub-token, the rest ignored (-100), as the bundled model's recipe does.

use std::collections::BTreeSet;
use std::path::Path;

use mlkit_core::tokenize::Encoded;
use serde::Deserialize;
use tokenizers::{EncodeInput, InputSequence, Tokenizer};

use crate::error::{Result, TrainError};

/// What a token or an input is trained towards.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A label id per token; -100 where no loss is taken (special tokens, later sub-tokens).
    Tokens(Vec<i64>),
    /// One label id (single-label classification).
    Label(u32),
    /// 0/1 per label (multi-label classification).
    Labels(Vec<f32>),
}

/// One tokenized input and its target.
#[derive(Clone, Debug)]
pub struct Example {
    pub encoded: Encoded,
    pub target: Target,
}

/// A sentence (or document) as words with IOB2 tags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaggedWords {
    pub words: Vec<String>,
    pub tags: Vec<String>,
}

/// One window of a tagged sentence, as the model sees it.
#[derive(Clone, Debug)]
pub struct Window {
    pub example: Example,
    pub sentence: usize,
    /// For each word of the window, in order: the token that carries its label (None for a
    /// word the tokenizer drops entirely, which is then predicted "O").
    pub first_tokens: Vec<Option<usize>>,
}

/// Tags rewritten in IOB2 from seqeval's chunks, so IOB1 and IOBES data train the scheme
/// the NER pipeline decodes.
pub fn to_iob2(tags: &[String]) -> Vec<String> {
    let mut out = vec!["O".to_string(); tags.len()];
    for (kind, start, end) in mlkit_ner::seqeval::chunks(tags) {
        for (i, slot) in out.iter_mut().enumerate().take(end + 1).skip(start) {
            *slot = format!("{}-{kind}", if i == start { "B" } else { "I" });
        }
    }
    out
}

/// Parses NER training data `text`, read from `path` (its name picks the format and is
/// named in errors): JSONL with character spans when the name ends in `.jsonl` or `.json`,
/// else CoNLL (tag column found as `ner eval` finds it).
pub fn parse_ner(path: &Path, text: &str) -> Result<Vec<TaggedWords>> {
    let jsonl = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("json"));
    let sentences = if jsonl {
        read_spans(path, text)?
    } else {
        let conll = mlkit_ner::seqeval::read_conll(path, text, None)?;
        conll
            .words
            .into_iter()
            .zip(conll.tags)
            .map(|(words, tags)| TaggedWords {
                tags: to_iob2(&tags),
                words,
            })
            .collect()
    };
    if sentences.is_empty() {
        return Err(TrainError::Data {
            path: path.to_path_buf(),
            line: 1,
            message: "holds no sentences".into(),
        });
    }
    Ok(sentences)
}

#[derive(Deserialize)]
struct SpanRecord {
    text: String,
    #[serde(default)]
    entities: Vec<Span>,
}

#[derive(Deserialize)]
struct Span {
    start: usize,
    end: usize,
    label: String,
}

/// Words of `text` with their character ranges: runs of letters and digits, and each other
/// visible character on its own (BERT's basic tokenizer splits punctuation off this way).
fn words_of(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.chars().enumerate() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            out.push((s, i));
        }
        if !c.is_whitespace() {
            out.push((i, i + 1));
        }
    }
    if let Some(s) = start {
        out.push((s, text.chars().count()));
    }
    out
}

/// `{"text": ..., "entities": [{"start", "end", "label"}]}` per line, offsets in characters
/// (Python's and spaCy's); a word overlapping an entity takes its type.
fn read_spans(path: &Path, text: &str) -> Result<Vec<TaggedWords>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |message: String| TrainError::Data {
            path: path.to_path_buf(),
            line: n + 1,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        let record: SpanRecord = serde_json::from_str(line).map_err(|e| {
            bad(format!(
                "not a {{\"text\", \"entities\": [{{\"start\", \"end\", \"label\"}}]}} record: {e}"
            ))
        })?;
        let chars: Vec<char> = record.text.chars().collect();
        let ranges = words_of(&record.text);
        let mut tags = vec!["O".to_string(); ranges.len()];
        let mut spans = record.entities;
        spans.sort_by_key(|s| (s.start, s.end));
        let mut last_end = 0;
        for s in &spans {
            if s.start >= s.end || s.end > chars.len() || s.label.trim().is_empty() {
                return Err(bad(format!(
                    "entity {}..{} {:?} is not a span of the text's {} characters with a label",
                    s.start,
                    s.end,
                    s.label,
                    chars.len()
                )));
            }
            if s.start < last_end {
                return Err(bad(format!(
                    "entity {}..{} {:?} overlaps the one before it",
                    s.start, s.end, s.label
                )));
            }
            last_end = s.end;
            let mut first = true;
            for (w, &(ws, we)) in ranges.iter().enumerate() {
                if ws < s.end && we > s.start {
                    let prefix = if first { "B" } else { "I" };
                    tags[w] = format!("{prefix}-{}", s.label.trim());
                    first = false;
                }
            }
            if first {
                return Err(bad(format!(
                    "entity {}..{} {:?} covers no word",
                    s.start, s.end, s.label
                )));
            }
        }
        let words = ranges
            .iter()
            .map(|&(s, e)| chars[s..e].iter().collect())
            .collect();
        out.push(TaggedWords { words, tags });
    }
    Ok(out)
}

/// The label set of IOB2 data: "O", then B- and I- of each entity type, types sorted.
pub fn ner_labels(data: &[TaggedWords]) -> Vec<String> {
    let types: BTreeSet<&str> = data
        .iter()
        .flat_map(|s| s.tags.iter())
        .filter_map(|t| t.split_once('-').map(|(_, kind)| kind))
        .collect();
    let mut labels = vec!["O".to_string()];
    for t in types {
        labels.push(format!("B-{t}"));
        labels.push(format!("I-{t}"));
    }
    labels
}

fn encode_words(tokenizer: &Tokenizer, words: &[String]) -> Result<tokenizers::Encoding> {
    let refs: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
    let input = EncodeInput::Single(InputSequence::from(refs.as_slice()));
    tokenizer
        .encode(input, true)
        .map_err(|e| TrainError::Core(mlkit_core::CoreError::Tokenize(e.to_string())))
}

/// Tokenizes tagged sentences into windows of at most `max_len` tokens (a sentence too long
/// for one is cut at word boundaries), labels on first sub-tokens. `what` names the data
/// in errors (a tag outside `labels`, a word longer than a window).
pub fn encode_ner(
    tokenizer: &Tokenizer,
    data: &[TaggedWords],
    labels: &[String],
    max_len: usize,
    what: &str,
) -> Result<Vec<Window>> {
    let mut out = Vec::new();
    for (n, sentence) in data.iter().enumerate() {
        let mut start = 0;
        while start < sentence.words.len() || (start == 0 && sentence.words.is_empty()) {
            // Grow the window word by word while it fits (one encode of the whole sentence
            // when it does, the common case).
            let mut end = sentence.words.len();
            let mut enc = encode_words(tokenizer, &sentence.words[start..end])?;
            while enc.len() > max_len && end > start + 1 {
                let over = enc.len() - max_len;
                // Drop at least one word, more when far over.
                end -= (over / 4).clamp(1, end - start - 1);
                enc = encode_words(tokenizer, &sentence.words[start..end])?;
            }
            if enc.len() > max_len {
                return Err(TrainError::Usage(format!(
                    "{what}: sentence {} word {:?} alone takes {} tokens, more than the \
                     maximum length {max_len}",
                    n + 1,
                    sentence.words[start],
                    enc.len()
                )));
            }
            let words = end - start;
            let mut first_tokens = vec![None; words];
            let mut targets = vec![-100i64; enc.len()];
            for (t, w) in enc.get_word_ids().iter().enumerate() {
                let Some(w) = w.map(|w| w as usize) else {
                    continue;
                };
                if w < words && first_tokens[w].is_none() {
                    first_tokens[w] = Some(t);
                    let tag = &sentence.tags[start + w];
                    let id = labels.iter().position(|l| l == tag).ok_or_else(|| {
                        TrainError::Usage(format!(
                            "{what}: sentence {} has the tag {tag:?}, which the training data \
                             does not have ({})",
                            n + 1,
                            labels.join(", ")
                        ))
                    })?;
                    targets[t] = id as i64;
                }
            }
            out.push(Window {
                example: Example {
                    encoded: Encoded::from(enc),
                    target: Target::Tokens(targets),
                },
                sentence: n,
                first_tokens,
            });
            if sentence.words.is_empty() {
                break;
            }
            start = end;
        }
    }
    Ok(out)
}

/// Predicted tags per sentence from each window's token logits, words the tokenizer
/// dropped predicted "O".
pub fn word_tags(
    windows: &[Window],
    logits: &[Vec<Vec<f32>>],
    labels: &[String],
    sentences: usize,
) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); sentences];
    for (w, rows) in windows.iter().zip(logits) {
        for first in &w.first_tokens {
            let tag = first
                .and_then(|t| rows.get(t))
                .map_or("O", |row| &labels[mlkit_metrics::argmax(row)]);
            out[w.sentence].push(tag.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn iob1_and_iobes_become_iob2() {
        assert_eq!(
            to_iob2(&v("I-PER I-PER O I-LOC B-LOC")),
            v("B-PER I-PER O B-LOC B-LOC")
        );
        assert_eq!(to_iob2(&v("S-PER B-ORG E-ORG O")), v("B-PER B-ORG I-ORG O"));
    }

    #[test]
    fn spans_tag_the_words_they_cover() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        std::fs::write(
            &p,
            "{\"text\": \"Élodie met ACME Corp. in Paris\", \"entities\": [\
             {\"start\": 0, \"end\": 6, \"label\": \"PER\"}, \
             {\"start\": 11, \"end\": 21, \"label\": \"ORG\"}, \
             {\"start\": 25, \"end\": 30, \"label\": \"LOC\"}]}\n\n{\"text\": \"nothing\"}\n",
        )
        .unwrap();
        let read = |p: &Path| parse_ner(p, &std::fs::read_to_string(p).unwrap());
        let d = read(&p).unwrap();
        assert_eq!(d[0].words, v("Élodie met ACME Corp . in Paris"));
        assert_eq!(d[0].tags, v("B-PER O B-ORG I-ORG I-ORG O B-LOC"));
        assert_eq!(d[1].tags, v("O"));
        assert_eq!(ner_labels(&d), v("O B-LOC I-LOC B-ORG I-ORG B-PER I-PER"));
        std::fs::write(
            &p,
            "{\"text\": \"ab\", \"entities\": [{\"start\": 1, \"end\": 9, \"label\": \"X\"}]}",
        )
        .unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("d.jsonl:1: entity 1..9"), "{e}");
    }
}
