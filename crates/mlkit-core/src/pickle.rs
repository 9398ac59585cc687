//! PyTorch checkpoints (`pytorch_model.bin`: torch.save's zip format) read as
//! `torch.load(weights_only=True)` reads them: the pickle is run by a small machine that
//! knows only the opcodes a state dict needs and only the globals that rebuild tensors and
//! plain containers (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `_rebuild_parameter`, `torch.*Storage`). Any other global or opcode is refused with its
//! name: nothing in the file is ever called, so a `__reduce__` that would run `os.system`
//! on `torch.load` is only a name here, and it is refused. Every length, shape, stride,
//! offset and storage size is checked against the archive before a tensor is built.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use candle_core::{DType, Device, Tensor};

use crate::error::{CoreError, Result};

/// The pickle of a state dict is small (names and shapes); a larger one is refused.
const MAX_PICKLE_BYTES: u64 = 256 << 20;
/// Containers nest this deep at most (a state dict nests four levels).
const MAX_DEPTH: usize = 64;
/// Memo entries at most (one or two per tensor in a state dict).
const MAX_MEMO: usize = 1 << 24;

/// The globals a weights file may name: what `torch.load(weights_only=True)` allows for a
/// state dict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    Storage(DType),
}

impl Global {
    fn find(module: &str, name: &str) -> Option<Global> {
        Some(match (module, name) {
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensor,
            ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
            ("torch", "FloatStorage") => Global::Storage(DType::F32),
            ("torch", "HalfStorage") => Global::Storage(DType::F16),
            ("torch", "BFloat16Storage") => Global::Storage(DType::BF16),
            ("torch", "DoubleStorage") => Global::Storage(DType::F64),
            ("torch", "LongStorage") => Global::Storage(DType::I64),
            ("torch", "ByteStorage") | ("torch", "BoolStorage") => Global::Storage(DType::U8),
            _ => return None,
        })
    }
}

/// A tensor's storage: a file of the archive (`data/<key>`) holding `numel` elements.
#[derive(Clone, Debug, PartialEq)]
struct Storage {
    dtype: DType,
    key: String,
    numel: usize,
}

/// A tensor as the pickle describes it.
#[derive(Clone, Debug, PartialEq)]
struct TensorRef {
    storage: Storage,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
enum Object {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Rc<Object>>),
    List(Vec<Rc<Object>>),
    /// Dicts and OrderedDicts, keys in insertion order.
    Dict(Vec<(Rc<Object>, Rc<Object>)>),
    Global(Global),
    Storage(Storage),
    Tensor(TensorRef),
}

impl Object {
    /// How deep containers nest under this object.
    fn depth(&self) -> usize {
        match self {
            Object::Tuple(v) | Object::List(v) => {
                1 + v.iter().map(|o| o.depth()).max().unwrap_or(0)
            }
            Object::Dict(v) => {
                1 + v
                    .iter()
                    .map(|(k, o)| k.depth().max(o.depth()))
                    .max()
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Object::None => "None",
            Object::Bool(_) => "a bool",
            Object::Int(_) => "an int",
            Object::Float(_) => "a float",
            Object::Str(_) => "a string",
            Object::Bytes(_) => "bytes",
            Object::Tuple(_) => "a tuple",
            Object::List(_) => "a list",
            Object::Dict(_) => "a dict",
            Object::Global(_) => "a global",
            Object::Storage(_) => "a storage",
            Object::Tensor(_) => "a tensor",
        }
    }
}

/// What went wrong in the pickle, before the file name is put in front.
type PickleResult<T> = std::result::Result<T, String>;

/// Runs the pickle `data` and returns its result.
fn unpickle(data: &[u8]) -> PickleResult<Rc<Object>> {
    let mut m = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    m.run()
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Rc<Object>>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u64, Rc<Object>>,
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> PickleResult<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> PickleResult<u8> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> PickleResult<u64> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    }

    fn line(&mut self) -> PickleResult<String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("unterminated line at byte {}", self.pos))?;
        let s = String::from_utf8(rest[..end].to_vec())
            .map_err(|_| format!("a name that is not UTF-8 at byte {}", self.pos))?;
        self.pos += end + 1;
        Ok(s)
    }

    fn push(&mut self, o: Object) -> PickleResult<()> {
        if o.depth() > MAX_DEPTH {
            return Err(format!("containers nest deeper than {MAX_DEPTH}"));
        }
        self.stack.push(Rc::new(o));
        Ok(())
    }

    fn pop(&mut self) -> PickleResult<Rc<Object>> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(format!("pops past a mark at byte {}", self.pos));
        }
        self.stack
            .pop()
            .ok_or_else(|| format!("pops an empty stack at byte {}", self.pos))
    }

    fn top(&mut self) -> PickleResult<&mut Rc<Object>> {
        let pos = self.pos;
        self.stack
            .last_mut()
            .ok_or_else(|| format!("an empty stack at byte {pos}"))
    }

    /// The objects pushed since the last MARK, which is removed.
    fn pop_mark(&mut self) -> PickleResult<Vec<Rc<Object>>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| format!("no mark at byte {}", self.pos))?;
        if mark > self.stack.len() {
            return Err(format!("a mark past the stack at byte {}", self.pos));
        }
        Ok(self.stack.split_off(mark))
    }

    fn memoize(&mut self, key: u64) -> PickleResult<()> {
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&key) {
            return Err(format!("more than {MAX_MEMO} memo entries"));
        }
        let top = self.top()?.clone();
        self.memo.insert(key, top);
        Ok(())
    }

    fn get(&mut self, key: u64) -> PickleResult<()> {
        let o = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("memo entry {key} is not set (byte {})", self.pos))?;
        self.stack.push(o);
        Ok(())
    }

    fn run(&mut self) -> PickleResult<Rc<Object>> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(format!("pickle protocol {proto} is not known"));
                    }
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => {
                    return self.pop();
                }
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.push(Object::None)?,
                0x88 => self.push(Object::Bool(true))?,
                0x89 => self.push(Object::Bool(false))?,
                b'K' => {
                    let v = self.le(1)?;
                    self.push(Object::Int(v as i64))?
                }
                b'M' => {
                    let v = self.le(2)?;
                    self.push(Object::Int(v as i64))?
                }
                b'J' => {
                    let v = self.le(4)? as u32 as i32;
                    self.push(Object::Int(i64::from(v)))?
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    if n > 8 {
                        return Err(format!("an integer of {n} bytes at byte {at}"));
                    }
                    let v = self.le(n)?;
                    // Two's complement of n bytes.
                    let v = if n > 0 && n < 8 && v >> (8 * n - 1) & 1 == 1 {
                        (v | (u64::MAX << (8 * n))) as i64
                    } else {
                        v as i64
                    };
                    self.push(Object::Int(v))?
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().map_err(|_| "float".to_string())?);
                    self.push(Object::Float(v))?
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.le(4)?,
                        0x8c => self.le(1)?,
                        _ => self.le(8)?,
                    };
                    let n = usize::try_from(n)
                        .map_err(|_| format!("a string too long at byte {at}"))?;
                    let s = String::from_utf8(self.take(n)?.to_vec())
                        .map_err(|_| format!("a string that is not UTF-8 at byte {at}"))?;
                    self.push(Object::Str(s))?
                }
                b'U' | b'T' | b'C' | b'B' | 0x8e => {
                    let n = match op {
                        b'U' | b'C' => self.le(1)?,
                        b'T' | b'B' => self.le(4)?,
                        _ => self.le(8)?,
                    };
                    let n =
                        usize::try_from(n).map_err(|_| format!("bytes too long at byte {at}"))?;
                    let b = self.take(n)?.to_vec();
                    self.push(Object::Bytes(b))?
                }
                b')' => self.push(Object::Tuple(Vec::new()))?,
                b']' => self.push(Object::List(Vec::new()))?,
                b'}' => self.push(Object::Dict(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Object::Tuple(items))?
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Object::Tuple(items))?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Object::List(items))?
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items, at)?;
                    self.push(Object::Dict(pairs))?
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend_list(vec![item], at)?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend_list(items, at)?
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.extend_dict(vec![(key, value)], at)?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items, at)?;
                    self.extend_dict(pairs, at)?
                }
                b'q' => {
                    let k = self.le(1)?;
                    self.memoize(k)?
                }
                b'r' => {
                    let k = self.le(4)?;
                    self.memoize(k)?
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memoize(k)?
                }
                b'h' => {
                    let k = self.le(1)?;
                    self.get(k)?
                }
                b'j' => {
                    let k = self.le(4)?;
                    self.get(k)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Object::Global(global(&module, &name)?))?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Object::Str(module), Object::Str(name)) = (&*module, &*name) else {
                        return Err(format!("a global named by non-strings at byte {at}"));
                    };
                    self.push(Object::Global(global(module, name)?))?
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage =
                        persistent_storage(&pid).map_err(|e| format!("{e} (byte {at})"))?;
                    self.push(Object::Storage(storage))?
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let result =
                        reduce(&callable, &args).map_err(|e| format!("{e} (byte {at})"))?;
                    self.push(result)?
                }
                b'b' => {
                    // State set on the object just built: an OrderedDict's `_metadata`
                    // (module versions), which a state dict carries; nothing to keep.
                    self.pop()?;
                    if !matches!(&**self.top()?, Object::Dict(_)) {
                        return Err(format!(
                            "BUILD on something that is not a dict at byte {at}"
                        ));
                    }
                }
                other => {
                    return Err(format!(
                        "opcode {:?} (0x{other:02x}) at byte {at} is not one a weights file \
                         needs; refused",
                        other as char
                    ))
                }
            }
        }
    }

    fn extend_list(&mut self, items: Vec<Rc<Object>>, at: usize) -> PickleResult<()> {
        let top = self.top()?;
        match Rc::make_mut(top) {
            Object::List(v) => v.extend(items),
            other => return Err(format!("appends to {} at byte {at}", other.kind())),
        }
        self.check_top_depth()
    }

    fn extend_dict(&mut self, items: Vec<(Rc<Object>, Rc<Object>)>, at: usize) -> PickleResult<()> {
        let top = self.top()?;
        match Rc::make_mut(top) {
            Object::Dict(v) => v.extend(items),
            other => return Err(format!("sets items on {} at byte {at}", other.kind())),
        }
        self.check_top_depth()
    }

    fn check_top_depth(&mut self) -> PickleResult<()> {
        if self.top()?.depth() > MAX_DEPTH {
            return Err(format!("containers nest deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }
}

fn global(module: &str, name: &str) -> PickleResult<Global> {
    Global::find(module, name).ok_or_else(|| {
        format!(
            "refuses global {module}.{name}: only tensors and plain containers are loaded, as \
             torch.load(weights_only=True) does"
        )
    })
}

fn pairs(items: Vec<Rc<Object>>, at: usize) -> PickleResult<Vec<(Rc<Object>, Rc<Object>)>> {
    if !items.len().is_multiple_of(2) {
        return Err(format!("an odd number of dict items at byte {at}"));
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn int(o: &Object, what: &str) -> PickleResult<usize> {
    match o {
        Object::Int(v) => usize::try_from(*v).map_err(|_| format!("{what} {v} is negative")),
        other => Err(format!("{what} is {}, not an int", other.kind())),
    }
}

fn ints(o: &Object, what: &str) -> PickleResult<Vec<usize>> {
    match o {
        Object::Tuple(v) | Object::List(v) => v.iter().map(|x| int(x, what)).collect(),
        other => Err(format!("{what} is {}, not a tuple", other.kind())),
    }
}

/// torch's persistent id of a storage: ("storage", torch.XStorage, key, location, numel).
fn persistent_storage(pid: &Object) -> PickleResult<Storage> {
    let Object::Tuple(t) = pid else {
        return Err(format!("a persistent id that is {}", pid.kind()));
    };
    match t.iter().map(|x| &**x).collect::<Vec<_>>()[..] {
        [Object::Str(tag), Object::Global(Global::Storage(dtype)), Object::Str(key), _, numel]
            if tag == "storage" =>
        {
            Ok(Storage {
                dtype: *dtype,
                key: key.clone(),
                numel: int(numel, "a storage size")?,
            })
        }
        _ => Err("a persistent id that is not a torch storage".into()),
    }
}

/// Calls an allowed global: the only code a weights file can "run".
fn reduce(callable: &Object, args: &Object) -> PickleResult<Object> {
    let Object::Global(g) = callable else {
        return Err(format!("calls {}, not an allowed global", callable.kind()));
    };
    let Object::Tuple(args) = args else {
        return Err("call arguments that are not a tuple".into());
    };
    let args: Vec<&Object> = args.iter().map(|a| &**a).collect();
    match (g, &args[..]) {
        (Global::OrderedDict, []) => Ok(Object::Dict(Vec::new())),
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        (Global::RebuildTensor, [Object::Storage(s), offset, size, stride, ..]) => {
            let tensor = TensorRef {
                storage: s.clone(),
                offset: int(offset, "a storage offset")?,
                shape: ints(size, "a tensor size")?,
                stride: ints(stride, "a tensor stride")?,
            };
            if tensor.shape.len() != tensor.stride.len() {
                return Err("a tensor whose size and stride differ in length".into());
            }
            Ok(Object::Tensor(tensor))
        }
        // (data, requires_grad, backward_hooks): the parameter is its data.
        (Global::RebuildParameter, [Object::Tensor(t), ..]) => Ok(Object::Tensor(t.clone())),
        (g, _) => Err(format!("{g:?} called with arguments it does not take")),
    }
}

fn bad(path: &Path, message: impl std::fmt::Display) -> CoreError {
    CoreError::BadFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The name → tensor map of a torch.save'd state dict, on the CPU, in the stored dtypes.
pub fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    let (file, file_len) = crate::parts::open_sized(path)?;
    // A zip archive starts with "PK"; the legacy format with a pickle's PROTO opcode.
    let mut first = [0u8; 1];
    let legacy = (&file).read_exact(&mut first).is_ok() && first[0] == 0x80;
    if legacy {
        return Err(bad(
            path,
            "is in torch.save's legacy format (PyTorch before 1.6), which mlkit does not read; \
             save it again with a current PyTorch, or as safetensors",
        ));
    }
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| bad(path, format!("is not a PyTorch zip checkpoint: {e}")))?;
    let pkl = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .find(|n| n.ends_with("data.pkl") && n.matches('/').count() == 1)
        .ok_or_else(|| bad(path, "has no data.pkl: not a torch.save checkpoint"))?;
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    if let Ok(mut order) = zip.by_name(&format!("{prefix}byteorder")) {
        let mut s = String::new();
        if order.read_to_string(&mut s).is_ok() && s.trim() != "little" {
            return Err(bad(path, format!("stores its tensors {} endian", s.trim())));
        }
    }
    let data =
        read_entry(&mut zip, &pkl, MAX_PICKLE_BYTES.min(file_len)).map_err(|e| bad(path, e))?;
    let root = unpickle(&data).map_err(|e| bad(path, format!("data.pkl: {e}")))?;
    let Object::Dict(items) = &*root else {
        return Err(bad(
            path,
            format!("holds {}, not a state dict of tensors", root.kind()),
        ));
    };
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = HashMap::new();
    for (name, value) in items {
        let Object::Str(name) = &**name else {
            return Err(bad(path, format!("has a key that is {}", name.kind())));
        };
        let Object::Tensor(t) = &**value else {
            return Err(bad(
                path,
                format!("{name:?} is {}, not a tensor", value.kind()),
            ));
        };
        let s = &t.storage;
        let elem = s.dtype.size_in_bytes();
        if !storages.contains_key(&s.key) {
            let limit = (s.numel as u64).saturating_mul(elem as u64);
            // Entries are stored, not compressed: none can be larger than the file.
            let bytes = read_entry(
                &mut zip,
                &format!("{prefix}data/{}", s.key),
                limit.min(file_len),
            )
            .map_err(|e| bad(path, format!("tensor {name:?}: {e}")))?;
            if bytes.len() as u64 != limit {
                return Err(bad(
                    path,
                    format!(
                        "tensor {name:?}: its storage holds {} bytes, not the {limit} its {} \
                         elements need",
                        bytes.len(),
                        s.numel
                    ),
                ));
            }
            storages.insert(s.key.clone(), bytes);
        }
        let bytes = &storages[&s.key];
        let tensor =
            build_tensor(t, bytes).map_err(|e| bad(path, format!("tensor {name:?}: {e}")))?;
        out.insert(name.clone(), tensor);
    }
    Ok(out)
}

/// An archive entry's bytes, refused when larger than `limit`.
fn read_entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
) -> PickleResult<Vec<u8>> {
    let entry = zip
        .by_name(name)
        .map_err(|e| format!("archive entry {name}: {e}"))?;
    if entry.size() > limit {
        return Err(format!(
            "archive entry {name} is {} bytes, more than the {limit} expected",
            entry.size()
        ));
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("archive entry {name}: {e}"))?;
    Ok(bytes)
}

/// The tensor `t` describes, from its storage's bytes: contiguous (row-major) tensors only,
/// as state dicts hold them, possibly at an offset into a shared storage.
fn build_tensor(t: &TensorRef, storage: &[u8]) -> PickleResult<Tensor> {
    let mut expected = 1usize;
    for (&dim, &stride) in t.shape.iter().zip(&t.stride).rev() {
        if dim > 1 && stride != expected {
            return Err(
                "is not contiguous (a transposed or strided view); save it with \
                        .contiguous() first"
                    .into(),
            );
        }
        expected = expected
            .checked_mul(dim)
            .ok_or_else(|| "has a size that overflows".to_string())?;
    }
    let numel = expected;
    let end = t
        .offset
        .checked_add(numel)
        .filter(|&e| e <= t.storage.numel)
        .ok_or_else(|| {
            format!(
                "reaches past its storage ({} + {numel} elements of {})",
                t.offset, t.storage.numel
            )
        })?;
    let elem = t.storage.dtype.size_in_bytes();
    let bytes = &storage[t.offset * elem..end * elem];
    Tensor::from_raw_buffer(bytes, t.storage.dtype, &t.shape, &Device::Cpu)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_reduce_that_would_call_os_system() {
        // pickle.dumps of an object whose __reduce__ returns (os.system, ("echo hi",)).
        let evil = b"\x80\x04\x95\x22\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x07echo hi\x94\x85\x94R\x94.";
        let e = unpickle(evil).unwrap_err();
        assert!(e.contains("refuses global posix.system"), "{e}");
    }

    #[test]
    fn refuses_unknown_opcodes_and_truncation_and_deep_nesting() {
        assert!(unpickle(b"\x80\x02\x81.").unwrap_err().contains("opcode"));
        assert!(unpickle(b"\x80\x02X\xff\xff\xff\x7fab")
            .unwrap_err()
            .contains("truncated"));
        let mut deep = b"\x80\x02".to_vec();
        deep.extend(std::iter::repeat_n(b']', 1000));
        deep.extend(std::iter::repeat_n(b'a', 999));
        deep.push(b'.');
        assert!(unpickle(&deep).unwrap_err().contains("deeper"));
        assert!(unpickle(b"\x80\x02h\x05.").unwrap_err().contains("memo"));
        assert!(unpickle(b"").unwrap_err().contains("truncated"));
    }

    #[test]
    fn reads_plain_containers() {
        // pickle.dumps({"a": [1, -2, 300, 70000, 1.5, None, True, "x"]}, protocol=2)
        let p = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffM,\x01J\x70\x11\x01\x00G?\xf8\x00\x00\x00\x00\x00\x00N\x88X\x01\x00\x00\x00xq\x03es.";
        let o = unpickle(p).unwrap();
        let Object::Dict(items) = &*o else {
            panic!("{o:?}")
        };
        let Object::List(l) = &*items[0].1 else {
            panic!()
        };
        let l: Vec<&Object> = l.iter().map(|x| &**x).collect();
        assert_eq!(
            l,
            [
                &Object::Int(1),
                &Object::Int(-2),
                &Object::Int(300),
                &Object::Int(70000),
                &Object::Float(1.5),
                &Object::None,
                &Object::Bool(true),
                &Object::Str("x".into())
            ]
        );
    }
}
