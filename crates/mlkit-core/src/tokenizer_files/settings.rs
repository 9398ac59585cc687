//! What a slow tokenizer's `tokenizer_config.json` and `special_tokens_map.json` say: the
//! options its class takes (casing, accents, a prefix space) and its special and added
//! tokens, read as `PreTrainedTokenizerBase.from_pretrained` reads them (the special-tokens
//! map overrides the config).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use tokenizers::AddedToken;

use super::{bad, read_text};
use crate::error::Result;

pub const CONFIG: &str = "tokenizer_config.json";
pub const SPECIAL_TOKENS_MAP: &str = "special_tokens_map.json";
pub const ADDED_TOKENS: &str = "added_tokens.json";

/// The special-token roles, in transformers' `SPECIAL_TOKENS_ATTRIBUTES` order (the order in
/// which those not yet added are added).
pub const ROLES: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

/// One token as the files describe it: a string, or an `AddedToken` object.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenSpec {
    pub content: String,
    pub lstrip: bool,
    pub rstrip: bool,
    pub single_word: bool,
    pub normalized: Option<bool>,
    pub special: Option<bool>,
}

impl TokenSpec {
    fn parse(v: &Value) -> Option<TokenSpec> {
        match v {
            Value::String(s) => Some(TokenSpec {
                content: s.clone(),
                lstrip: false,
                rstrip: false,
                single_word: false,
                normalized: None,
                special: None,
            }),
            Value::Object(m) => {
                let flag = |k: &str| m.get(k).and_then(Value::as_bool);
                Some(TokenSpec {
                    content: m.get("content")?.as_str()?.to_string(),
                    lstrip: flag("lstrip").unwrap_or(false),
                    rstrip: flag("rstrip").unwrap_or(false),
                    single_word: flag("single_word").unwrap_or(false),
                    normalized: flag("normalized"),
                    special: flag("special"),
                })
            }
            _ => None,
        }
    }

    /// As `tokenizers.AddedToken(content, special=special, ...)`: a special token is
    /// matched before normalization unless it says otherwise.
    fn added(&self, special: bool) -> AddedToken {
        AddedToken::from(self.content.clone(), special)
            .lstrip(self.lstrip)
            .rstrip(self.rstrip)
            .single_word(self.single_word)
            .normalized(self.normalized.unwrap_or(!special))
    }
}

/// The options and tokens of a slow tokenizer.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The config's other entries (do_lower_case, add_prefix_space, ...).
    options: Map<String, Value>,
    /// Special tokens by role, as the files give them.
    special: BTreeMap<&'static str, TokenSpec>,
    additional_special: Vec<TokenSpec>,
    /// `added_tokens_decoder`: id -> token.
    added: BTreeMap<u64, TokenSpec>,
}

impl Settings {
    /// Reads the files as `from_pretrained` does: a config with `added_tokens_decoder` (any
    /// tokenizer saved by transformers 4.34 or later) says everything; an older one is
    /// completed by the special-tokens map, which overrides it, and `added_tokens.json`.
    pub fn read(
        config: Option<&Path>,
        special_tokens_map: Option<&Path>,
        added_tokens: Option<&Path>,
    ) -> Result<Settings> {
        let object = |path: &Path| -> Result<Map<String, Value>> {
            match serde_json::from_str(&read_text(path)?) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Err(bad(path, "is not a JSON object")),
                Err(e) => Err(bad(path, format!("is not valid JSON: {e}"))),
            }
        };
        let mut s = Settings::default();
        let mut modern = false;
        if let Some(path) = config {
            let mut options = object(path)?;
            if let Some(Value::Object(added)) = options.remove("added_tokens_decoder") {
                modern = true;
                for (id, token) in &added {
                    let (Ok(id), Some(token)) = (id.parse::<u64>(), TokenSpec::parse(token)) else {
                        return Err(bad(path, format!("added token {id:?} is malformed")));
                    };
                    s.added.insert(id, token);
                }
            }
            s.take_special(&mut options);
            s.options = options;
        }
        if modern {
            return Ok(s);
        }
        if let Some(path) = special_tokens_map {
            let mut map = object(path)?;
            s.take_special(&mut map);
        }
        if let Some(path) = added_tokens {
            // Special if it is one of the special tokens the files name (not the class's
            // defaults), and then matched before normalization.
            let named: Vec<String> = s
                .special
                .values()
                .chain(&s.additional_special)
                .map(|t| t.content.clone())
                .collect();
            for (token, id) in object(path)? {
                let id = id
                    .as_u64()
                    .ok_or_else(|| bad(path, format!("{token:?} has no id")))?;
                let special = named.contains(&token);
                s.added.insert(
                    id,
                    TokenSpec {
                        normalized: Some(!special),
                        special: Some(special),
                        ..plain(&token)
                    },
                );
            }
        }
        Ok(s)
    }

    /// Moves the special tokens out of `map` (a later file's replace an earlier's).
    fn take_special(&mut self, map: &mut Map<String, Value>) {
        for role in ROLES {
            if let Some(token) = map.remove(role).as_ref().and_then(TokenSpec::parse) {
                self.special.insert(role, token);
            }
        }
        if let Some(Value::Array(list)) = map.remove("additional_special_tokens") {
            self.additional_special = list.iter().filter_map(TokenSpec::parse).collect();
        }
    }

    /// A boolean option, if the config gives one (`null` counts as not given).
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.options.get(name).and_then(Value::as_bool)
    }

    /// A string option, if the config gives one.
    pub fn text(&self, name: &str) -> Option<String> {
        self.options
            .get(name)
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// The special token of `role` ("cls_token", ...), or the class's `default`.
    pub fn special(&self, role: &str, default: &str) -> String {
        self.special
            .get(role)
            .map_or_else(|| default.to_string(), |t| t.content.clone())
    }

    /// The class's default special tokens, for roles the files do not name.
    pub fn with_defaults(mut self, defaults: &[(&'static str, TokenSpec)]) -> Settings {
        for (role, token) in defaults {
            self.special.entry(role).or_insert_with(|| token.clone());
        }
        self
    }

    /// The tokens `PreTrainedTokenizerFast.__init__` adds after converting: those of
    /// `added_tokens_decoder` by id, then every special token not among them. A token is
    /// special if it says so or is one of the special tokens.
    pub fn tokens_to_add(&self) -> Vec<AddedToken> {
        let specials: Vec<&TokenSpec> = ROLES
            .iter()
            .filter_map(|r| self.special.get(r))
            .chain(&self.additional_special)
            .collect();
        let is_special = |t: &TokenSpec| {
            t.special.unwrap_or(false) || specials.iter().any(|s| s.content == t.content)
        };
        let mut tokens: Vec<AddedToken> = self
            .added
            .values()
            .map(|t| t.added(is_special(t)))
            .collect();
        for s in specials {
            if !tokens.iter().any(|t| t.content == s.content) {
                tokens.push(s.added(true));
            }
        }
        tokens
    }
}

/// A plain special token (no stripping), for class defaults.
pub fn plain(content: &str) -> TokenSpec {
    TokenSpec {
        content: content.to_string(),
        lstrip: false,
        rstrip: false,
        single_word: false,
        normalized: None,
        special: None,
    }
}

/// The special tokens of RoBERTa's family (RoBERTa, XLM-R, CamemBERT), for roles the files
/// do not name.
pub fn roberta_defaults() -> Vec<(&'static str, TokenSpec)> {
    vec![
        ("bos_token", plain("<s>")),
        ("eos_token", plain("</s>")),
        ("sep_token", plain("</s>")),
        ("cls_token", plain("<s>")),
        ("unk_token", plain("<unk>")),
        ("pad_token", plain("<pad>")),
        ("mask_token", lstripped("<mask>")),
    ]
}

/// RoBERTa's `<mask>`, which takes the space before it (`lstrip`).
pub fn lstripped(content: &str) -> TokenSpec {
    TokenSpec {
        lstrip: true,
        normalized: Some(false),
        ..plain(content)
    }
}
