//! A compact, reversible byte encoding of a row's key cells.
//!
//! Hashing one byte string per row is much cheaper than building a vector of cells for each
//! of millions of rows; the cells are decoded once per distinct key.

use crate::keys::RawCell;

/// Appends a text cell (the fast path for delimited files).
pub fn encode_text(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'T');
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text);
}

/// Appends any cell; `encode_text` is the fast path for delimited text.
pub fn encode_cell(cell: &RawCell, out: &mut Vec<u8>) {
    match cell {
        RawCell::Text(t) => encode_text(t, out),
        RawCell::Str(t) => {
            out.push(b'S');
            out.extend_from_slice(&(t.len() as u64).to_le_bytes());
            out.extend_from_slice(t);
        }
        RawCell::Null => out.push(b'N'),
        RawCell::Int(v) => {
            out.push(b'I');
            out.extend_from_slice(&v.to_le_bytes());
        }
        RawCell::Float(b) => {
            out.push(b'F');
            out.extend_from_slice(&b.to_le_bytes());
        }
        RawCell::Bool(b) => out.extend_from_slice(&[b'B', u8::from(*b)]),
    }
}

/// Inverse of `encode_cell` over a whole key. The encoding is produced in this crate only,
/// so a malformed one is a bug, reported as `None` rather than a panic.
pub fn decode_key(mut bytes: &[u8]) -> Option<Vec<RawCell>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Some(head)
    }
    fn word(bytes: &mut &[u8]) -> Option<[u8; 8]> {
        take(bytes, 8)?.try_into().ok()
    }
    let mut cells = Vec::new();
    while let Some((&tag, rest)) = bytes.split_first() {
        bytes = rest;
        let cell = match tag {
            b'T' | b'S' => {
                let len = usize::try_from(u64::from_le_bytes(word(&mut bytes)?)).ok()?;
                let text = take(&mut bytes, len)?.to_vec();
                if tag == b'T' {
                    RawCell::Text(text)
                } else {
                    RawCell::Str(text)
                }
            }
            b'N' => RawCell::Null,
            b'I' => RawCell::Int(i64::from_le_bytes(word(&mut bytes)?)),
            b'F' => RawCell::Float(u64::from_le_bytes(word(&mut bytes)?)),
            b'B' => RawCell::Bool(take(&mut bytes, 1)?[0] != 0),
            _ => return None,
        };
        cells.push(cell);
    }
    Some(cells)
}
