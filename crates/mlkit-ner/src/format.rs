//! Output formats for a document's entities. Offsets are in characters (Unicode scalar
//! values), as Python's str indexes them, so they are right for non-ASCII text.

use serde_json::{json, Value};

use crate::aggregate::{Aggregation, Entity};

/// Slices a document by character offsets: the byte offset of each character is computed
/// once per document, not once per entity.
pub struct CharSlicer<'t> {
    text: &'t str,
    /// Byte offset of each character, and the text's length at the end.
    bytes: Vec<usize>,
}

impl<'t> CharSlicer<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut bytes: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        bytes.push(text.len());
        CharSlicer { text, bytes }
    }

    /// Characters `start..end` (clamped to the text).
    pub fn span(&self, start: usize, end: usize) -> &'t str {
        let last = self.bytes.len() - 1;
        let (s, e) = (start.min(last), end.max(start).min(last));
        &self.text[self.bytes[s]..self.bytes[e]]
    }

    /// The text an entity covers.
    pub fn entity(&self, e: &Entity) -> &'t str {
        self.span(e.start, e.end)
    }
}

/// `{id, entities: [{label, text, start, end, score}]}`.
pub fn jsonl(id: &Value, text: &str, entities: &[Entity]) -> Value {
    let slicer = CharSlicer::new(text);
    let list: Vec<Value> = entities
        .iter()
        .map(|e| {
            json!({
                "label": e.label,
                "text": slicer.entity(e),
                "start": e.start,
                "end": e.end,
                "score": e.score,
            })
        })
        .collect();
    json!({ "id": id, "entities": list })
}

/// Exactly the list the transformers pipeline returns for the document.
pub fn hf(entities: &[Entity], strategy: Aggregation) -> Value {
    Value::Array(
        entities
            .iter()
            .map(|e| match (strategy, e.index) {
                (Aggregation::None, Some(index)) => json!({
                    "entity": e.label,
                    "score": e.score,
                    "index": index,
                    "word": e.word,
                    "start": e.start,
                    "end": e.end,
                }),
                _ => json!({
                    "entity_group": e.label,
                    "score": e.score,
                    "word": e.word,
                    "start": e.start,
                    "end": e.end,
                }),
            })
            .collect(),
    )
}

/// The entity type of a label: "B-PER" and "PER" are both PER.
pub fn entity_type(label: &str) -> &str {
    match label.split_once('-') {
        Some(("B" | "I" | "E" | "S", t)) => t,
        _ => label,
    }
}

/// White-space separated words with their character spans.
fn words(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (char index, byte index)
    let mut chars = 0;
    for (b, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some((cs, bs)) = start.take() {
                out.push((cs, chars, &text[bs..b]));
            }
        } else if start.is_none() {
            start = Some((chars, b));
        }
        chars += 1;
    }
    if let Some((cs, bs)) = start {
        out.push((cs, chars, &text[bs..]));
    }
    out
}

/// IOB2 tag of each white-space word: a word takes the type of the entity it overlaps.
pub fn word_tags(text: &str, entities: &[Entity]) -> Vec<(String, String)> {
    let mut previous: Option<usize> = None;
    words(text)
        .into_iter()
        .map(|(s, e, w)| {
            let hit = entities.iter().position(|x| x.start < e && s < x.end);
            let tag = match hit {
                Some(i) => {
                    let prefix = if previous == Some(i) { "I" } else { "B" };
                    format!("{prefix}-{}", entity_type(&entities[i].label))
                }
                None => "O".to_string(),
            };
            previous = hit;
            (w.to_string(), tag)
        })
        .collect()
}

/// CoNLL: `TOKEN TAG` per line, a blank line after the document.
pub fn conll(text: &str, entities: &[Entity]) -> String {
    let mut out = String::new();
    for (w, t) in word_tags(text, entities) {
        out.push_str(&w);
        out.push(' ');
        out.push_str(&t);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// spaCy's `Doc.to_json()` shape: text, ents (character offsets, label) and tokens.
pub fn spacy(text: &str, entities: &[Entity]) -> Value {
    let ents: Vec<Value> = entities
        .iter()
        .map(|e| json!({"start": e.start, "end": e.end, "label": entity_type(&e.label)}))
        .collect();
    let tokens: Vec<Value> = words(text)
        .into_iter()
        .enumerate()
        .map(|(i, (s, e, _))| json!({"id": i, "start": s, "end": e}))
        .collect();
    json!({"text": text, "ents": ents, "tokens": tokens})
}

/// Rows of the pretty table: id, label, score, text (the caller aligns them).
pub fn pretty_rows(id: &str, text: &str, entities: &[Entity]) -> Vec<[String; 4]> {
    let slicer = CharSlicer::new(text);
    entities
        .iter()
        .map(|e| {
            [
                id.to_string(),
                e.label.clone(),
                format!("{:.3}", e.score),
                slicer.entity(e).replace(['\n', '\t'], " "),
            ]
        })
        .collect()
}

/// Aligns rows under a header, two spaces between columns.
pub fn table<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r.as_ref()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.as_ref().iter().map(|s| s.as_str()).collect()));
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// displaCy's entity colours, with a grey for other labels.
fn colour(label: &str) -> &'static str {
    match label {
        "PER" | "PERSON" => "#aa9cfc",
        "ORG" => "#7aecec",
        "LOC" | "GPE" => "#ff9561",
        "MISC" | "NORP" => "#c887fb",
        "DATE" | "TIME" => "#bfe1d9",
        "MONEY" | "PERCENT" | "QUANTITY" | "CARDINAL" | "ORDINAL" => "#e4e7d2",
        _ => "#ddd",
    }
}

/// One document's HTML: its text with each entity in a `<mark class="entity">` that names
/// the label, as displaCy renders them. Overlapping entities (from `--aggregation none` on
/// windows) are shown once, the first winning.
pub fn html_doc(text: &str, entities: &[Entity]) -> String {
    let slicer = CharSlicer::new(text);
    let mut out = String::from("<div class=\"doc\">");
    let mut at = 0;
    let mut sorted: Vec<&Entity> = entities.iter().collect();
    sorted.sort_by_key(|e| e.start);
    for e in sorted {
        if e.start < at {
            continue;
        }
        out.push_str(&escape(slicer.span(at, e.start)));
        let label = entity_type(&e.label);
        out.push_str(&format!(
            "<mark class=\"entity\" data-label=\"{l}\" title=\"{l} {score:.3}\" style=\"background: {c}; \
             padding: 0.45em 0.6em; margin: 0 0.25em; line-height: 1; border-radius: 0.35em;\">{t}\
             <span class=\"label\" style=\"font-size: 0.8em; font-weight: bold; line-height: 1; \
             vertical-align: middle; margin-left: 0.5rem\">{l}</span></mark>",
            l = escape(label),
            c = colour(label),
            score = e.score,
            t = escape(slicer.entity(e)),
        ));
        at = e.end;
    }
    out.push_str(&escape(slicer.span(at, usize::MAX)));
    out.push_str("</div>\n");
    out
}

/// The page around the documents' HTML.
pub fn html_page(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>mlkit ner</title>\n\
         <style>body {{ font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; }} \
         .doc {{ line-height: 2.5; margin: 1em 2em; padding: 1em; border-bottom: 1px solid #eee; \
         white-space: pre-wrap; }}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(label: &str, start: usize, end: usize) -> Entity {
        Entity {
            label: label.into(),
            score: 0.9,
            word: String::new(),
            start,
            end,
            index: None,
        }
    }

    #[test]
    fn offsets_are_characters() {
        let text = "Zoë Baird met Müller in Köln.";
        let e = [ent("PER", 0, 9), ent("PER", 14, 20), ent("LOC", 24, 28)];
        let j = jsonl(&json!(1), text, &e);
        assert_eq!(j["entities"][0]["text"], "Zoë Baird");
        assert_eq!(j["entities"][1]["text"], "Müller");
        assert_eq!(j["entities"][2]["text"], "Köln");
        let tags: Vec<String> = word_tags(text, &e).into_iter().map(|(_, t)| t).collect();
        assert_eq!(tags, ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC"]);
    }

    #[test]
    fn html_escapes_and_marks() {
        let h = html_doc("<b>Ann</b> & Bob", &[ent("PER", 3, 6), ent("PER", 13, 16)]);
        assert!(h.starts_with("<div class=\"doc\">&lt;b&gt;<mark"));
        assert_eq!(h.matches("data-label=\"PER\"").count(), 2);
        assert!(h.contains("&lt;/b&gt; &amp; <mark"));
    }
}
