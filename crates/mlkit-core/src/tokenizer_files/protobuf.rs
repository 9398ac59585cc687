//! The few messages of a SentencePiece model file (`sentencepiece_model.proto`) that a
//! tokenizer needs, read from the protobuf wire format with every length checked.

/// A field's value on the wire.
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

type ProtoResult<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    fn varint(&mut self) -> ProtoResult<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self
                .data
                .get(self.pos)
                .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!(
            "a varint longer than 10 bytes at byte {}",
            self.pos
        ))
    }

    fn take(&mut self, n: u64) -> ProtoResult<&'a [u8]> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("a field of {n} bytes past the end at byte {}", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field number and value, or `None` at the end.
    fn field(&mut self) -> ProtoResult<Option<(u64, Wire<'a>)>> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let n = self.varint()?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Wire::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            t => return Err(format!("wire type {t} at byte {}", self.pos)),
        };
        Ok(Some((key >> 3, value)))
    }
}

/// Calls `f` with each field of `data`.
fn each_field<'a>(
    data: &'a [u8],
    mut f: impl FnMut(u64, Wire<'a>) -> ProtoResult<()>,
) -> ProtoResult<()> {
    let mut r = Reader { data, pos: 0 };
    while let Some((number, value)) = r.field()? {
        f(number, value)?;
    }
    Ok(())
}

/// A piece's type, as sentencepiece numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelType {
    Unigram,
    Bpe,
    Other(u64),
}

/// What a tokenizer needs of a SentencePiece model.
#[derive(Clone, Debug)]
pub struct SentencePieceModel {
    pub pieces: Vec<Piece>,
    pub model_type: ModelType,
    pub unk_id: i64,
    pub unk_piece: String,
    pub byte_fallback: bool,
    pub precompiled_charsmap: Vec<u8>,
}

fn string(b: &[u8], what: &str) -> ProtoResult<String> {
    String::from_utf8(b.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

impl SentencePieceModel {
    pub fn parse(data: &[u8]) -> ProtoResult<SentencePieceModel> {
        let mut m = SentencePieceModel {
            pieces: Vec::new(),
            model_type: ModelType::Unigram,
            unk_id: 0,
            unk_piece: "<unk>".into(),
            byte_fallback: false,
            precompiled_charsmap: Vec::new(),
        };
        each_field(data, |number, value| {
            match (number, value) {
                (1, Wire::Bytes(b)) => m.pieces.push(piece(b)?),
                (2, Wire::Bytes(b)) => each_field(b, |n, v| {
                    match (n, v) {
                        (3, Wire::Varint(t)) => {
                            m.model_type = match t {
                                1 => ModelType::Unigram,
                                2 => ModelType::Bpe,
                                t => ModelType::Other(t),
                            }
                        }
                        (35, Wire::Varint(v)) => m.byte_fallback = v != 0,
                        // int32, sign-extended to 64 bits on the wire.
                        (40, Wire::Varint(v)) => m.unk_id = v as i64,
                        (45, Wire::Bytes(b)) => m.unk_piece = string(b, "unk_piece")?,
                        _ => {}
                    }
                    Ok(())
                })?,
                (3, Wire::Bytes(b)) => each_field(b, |n, v| {
                    if let (2, Wire::Bytes(b)) = (n, v) {
                        m.precompiled_charsmap = b.to_vec();
                    }
                    Ok(())
                })?,
                _ => {}
            }
            Ok(())
        })?;
        if m.pieces.is_empty() {
            return Err("has no pieces: not a SentencePiece model".into());
        }
        Ok(m)
    }
}

fn piece(data: &[u8]) -> ProtoResult<Piece> {
    let mut p = Piece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    each_field(data, |n, v| {
        match (n, v) {
            (1, Wire::Bytes(b)) => p.piece = string(b, "a piece")?,
            (2, Wire::Fixed32(bits)) => p.score = f32::from_bits(bits),
            (3, Wire::Varint(t)) => {
                p.kind = match t {
                    1 => PieceType::Normal,
                    2 => PieceType::Unknown,
                    3 => PieceType::Control,
                    4 => PieceType::UserDefined,
                    5 => PieceType::Unused,
                    6 => PieceType::Byte,
                    t => return Err(format!("piece type {t}")),
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(p)
}

/// Checks a precompiled charsmap as `spm_precompiled` will read it: every lookup of any
/// text walks its double array without leaving it, and every normalized string it points
/// to starts inside the string table on a character boundary. (The reader itself indexes
/// without checks, so a damaged charsmap would panic on some text.)
pub fn check_charsmap(charsmap: &[u8]) -> ProtoResult<()> {
    let bad = |what: &str| Err(format!("its precompiled normalizer {what}"));
    if charsmap.len() < 4 {
        return bad("is truncated");
    }
    let trie_bytes = u32::from_le_bytes([charsmap[0], charsmap[1], charsmap[2], charsmap[3]]);
    let units = (trie_bytes / 4) as usize;
    let Some(table) = charsmap.get(4..).and_then(|rest| {
        let end = units.checked_mul(4)?;
        Some((rest.get(..end)?, rest.get(end..)?))
    }) else {
        return bad("is truncated");
    };
    let (trie, normalized) = table;
    let Ok(normalized) = std::str::from_utf8(normalized) else {
        return bad("has a string table that is not UTF-8");
    };
    let unit = |i: usize| -> Option<usize> {
        let b = trie.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let offset = |u: usize| (u >> 10) << ((u & (1 << 9)) >> 6);
    let label = |u: usize| u & ((1 << 31) | 0xff);
    let Some(root) = unit(0) else {
        return bad("is empty");
    };
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![offset(root)];
    while let Some(node) = todo.pop() {
        if !seen.insert(node) {
            continue;
        }
        for c in 1..=255usize {
            let Some(u) = unit(node ^ c) else {
                return bad("leads outside its table");
            };
            if label(u) != c {
                continue;
            }
            let next = (node ^ c) ^ offset(u);
            if (u >> 8) & 1 == 1 {
                let Some(leaf) = unit(next) else {
                    return bad("leads outside its table");
                };
                let value = leaf & ((1 << 31) - 1);
                if value >= normalized.len() || !normalized.is_char_boundary(value) {
                    return bad("points outside its string table");
                }
            }
            todo.push(next);
        }
    }
    Ok(())
}
