//! Finding a model's files: a local directory, a bundled alias, or a Hugging Face repo.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::error::{CoreError, Result};
use crate::tokenizer_files::TokenizerFiles;
use crate::weights;

/// The files a model is made of, wherever they came from. A GGUF file written by
/// `mlkit quantize` carries config, tokenizer and pooling in its metadata, so for it
/// `weights` is the only file.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    /// Where the model came from, for messages and `models info`.
    pub origin: String,
    pub config: Option<PathBuf>,
    pub tokenizer: Option<TokenizerFiles>,
    /// model.safetensors, pytorch_model.bin, the index of their shards (the shards beside
    /// it), or a .gguf file.
    pub weights: PathBuf,
    /// sentence-transformers' `modules.json`, when the model has one.
    pub modules: Option<PathBuf>,
    /// sentence-transformers' pooling config (`1_Pooling/config.json`), when present.
    pub pooling: Option<PathBuf>,
    /// sentence-transformers' `sentence_bert_config.json` (its max_seq_length), when present.
    pub sentence_config: Option<PathBuf>,
}

impl ModelFiles {
    /// `sha256:HEX` of the weights file, to record which exact weights made a result (for
    /// a single-file checkpoint, the hash the hub lists for it).
    pub fn weights_hash(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let read = |source| CoreError::Read {
            path: self.weights.clone(),
            source,
        };
        let mut file = std::fs::File::open(&self.weights).map_err(read)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(read)?;
        let digest = hasher.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("sha256:{hex}"))
    }
}

const GGUF: &str = "model.gguf";
const POOLING: &str = "1_Pooling/config.json";
const SENTENCE: &str = "sentence_bert_config.json";

static SHOW_DOWNLOAD_PROGRESS: AtomicBool = AtomicBool::new(true);

/// Whether hub downloads may draw progress bars (on by default; off for `--quiet`).
pub fn show_download_progress(on: bool) {
    SHOW_DOWNLOAD_PROGRESS.store(on, Ordering::Relaxed);
}

/// Download progress bars only for a person watching stderr who has not asked for quiet.
fn download_progress() -> bool {
    use std::io::IsTerminal;
    SHOW_DOWNLOAD_PROGRESS.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// Where bundled models live: `$MLKIT_MODELS`; else the first that exists of `models/`
/// beside the executable, `../share/mlkit/models` from it (a copied or packaged binary),
/// and the source tree's `models/` (a binary built from a clone, `cargo install` included).
pub fn bundled_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MLKIT_MODELS") {
        return PathBuf::from(dir);
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .map(|bin| [bin.join("models"), bin.join("../share/mlkit/models")]);
    beside_exe
        .into_iter()
        .flatten()
        .chain(std::iter::once(source.clone()))
        .find(|d| d.is_dir())
        .map_or(source, |d| d.canonicalize().unwrap_or(d))
}

/// Whether `resolve` finds `spec` among the bundled models (a path that exists is not an
/// alias, even where a bundled model has its name).
pub fn is_bundled(spec: &str) -> bool {
    let path = Path::new(spec);
    !path.exists() && !spec.contains('/') && bundled_dir().join(spec).is_dir()
}

/// Resolves `spec`: an existing directory, then a bundled alias, then a Hugging Face repo
/// id with an optional `@revision` (downloaded into the hub cache, or read from it alone
/// when `HF_HUB_OFFLINE=1`).
pub fn resolve(spec: &str) -> Result<ModelFiles> {
    let path = Path::new(spec);
    if path.is_dir() {
        return from_dir(path, spec);
    }
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "gguf") {
            return Ok(gguf_file(path));
        }
        return Err(refuse_or_explain(path, spec));
    }
    if is_bundled(spec) {
        return from_dir(&bundled_dir().join(spec), spec);
    }
    if looks_like_repo_id(spec) {
        return from_hub(spec);
    }
    Err(CoreError::NotFound {
        spec: spec.to_string(),
        hint: format!(
            "it is neither a directory, a bundled model in {}, nor a Hugging Face repo id \
             such as sentence-transformers/all-MiniLM-L6-v2",
            bundled_dir().display()
        ),
    })
}

fn refuse_or_explain(_path: &Path, spec: &str) -> CoreError {
    CoreError::NotFound {
        spec: spec.to_string(),
        hint: "pass the model's directory (with config.json, a tokenizer and its weights), or \
               a .gguf file written by mlkit quantize"
            .to_string(),
    }
}

/// The model's weights through `get` (see `TokenizerFiles::locate`): the first of
/// `weights::CANDIDATES` it has and, for an index, every shard it names (so that a hub
/// download fetches them).
fn find_weights(
    spec: &str,
    place: &str,
    mut get: impl FnMut(&str) -> Result<Option<PathBuf>>,
) -> Result<PathBuf> {
    for name in weights::CANDIDATES {
        let Some(path) = get(name)? else { continue };
        if name.ends_with(".index.json") {
            for shard in weights::shard_names(&path)? {
                get(&shard)?.ok_or_else(|| CoreError::NotFound {
                    spec: spec.to_string(),
                    hint: format!("{place} has {name} but not the shard {shard} it names"),
                })?;
            }
        }
        return Ok(path);
    }
    Err(CoreError::NotFound {
        spec: spec.to_string(),
        hint: format!("{place} has no weights: {}", weights::CANDIDATES.join(", ")),
    })
}

fn looks_like_repo_id(spec: &str) -> bool {
    let id = spec.split_once('@').map_or(spec, |(id, _)| id);
    let mut parts = id.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

fn gguf_file(path: &Path) -> ModelFiles {
    ModelFiles {
        origin: path.display().to_string(),
        config: None,
        tokenizer: None,
        weights: path.to_path_buf(),
        modules: None,
        pooling: None,
        sentence_config: None,
    }
}

fn from_dir(dir: &Path, spec: &str) -> Result<ModelFiles> {
    let has_tensors = weights::CANDIDATES.iter().any(|w| dir.join(w).is_file());
    if !has_tensors && dir.join(GGUF).is_file() {
        let mut files = gguf_file(&dir.join(GGUF));
        files.origin = dir.display().to_string();
        return Ok(files);
    }
    let need = |name: &str| -> Result<PathBuf> {
        let p = dir.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(CoreError::NotFound {
                spec: spec.to_string(),
                hint: format!("{} has no {name}", dir.display()),
            })
        }
    };
    let optional = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    Ok(ModelFiles {
        origin: dir.display().to_string(),
        config: Some(need("config.json")?),
        tokenizer: Some(find_tokenizer(spec, &dir.display().to_string(), |name| {
            Ok(optional(name))
        })?),
        weights: find_weights(spec, &dir.display().to_string(), |name| Ok(optional(name)))?,
        modules: optional("modules.json"),
        pooling: optional(POOLING),
        sentence_config: optional(SENTENCE),
    })
}

/// The model's tokenizer files through `get` (see `TokenizerFiles::locate`), or an error
/// saying which files a tokenizer may come from.
fn find_tokenizer(
    spec: &str,
    place: &str,
    get: impl FnMut(&str) -> Result<Option<PathBuf>>,
) -> Result<TokenizerFiles> {
    TokenizerFiles::locate(get)?.ok_or_else(|| CoreError::NotFound {
        spec: spec.to_string(),
        hint: format!(
            "{place} has no tokenizer: tokenizer.json, vocab.json with merges.txt, or vocab.txt"
        ),
    })
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The hub client's message, with what to do about the usual failures.
fn explain_hub_error(message: String) -> String {
    let hint = if message.ends_with("status: 404") {
        "no such repo, revision or file, or it is private or gated: check the name, and set \
         HF_TOKEN to a token that may read it"
    } else if message.ends_with("status: 401") || message.ends_with("status: 403") {
        "access denied: set HF_TOKEN to a token that may read this repo"
    } else if ["io:", "dns", "onnect", "imeout"]
        .iter()
        .any(|transport| message.contains(transport))
    {
        // ureq's transport failures: I/O, name lookup, (C|c)onnection, (T|t)imeout.
        "cannot reach the hub: check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to \
         use a model already in the cache"
    } else {
        return message;
    };
    format!("{message} ({hint})")
}

fn from_hub(spec: &str) -> Result<ModelFiles> {
    let (id, revision) = match spec.split_once('@') {
        Some((id, rev)) => (id, rev.to_string()),
        None => (spec, "main".to_string()),
    };
    let repo = Repo::with_revision(id.to_string(), RepoType::Model, revision);
    let hub_err = |file: &str, message: String| CoreError::Hub {
        repo: spec.to_string(),
        file: file.to_string(),
        message: explain_hub_error(message),
    };
    if offline() {
        let cache = Cache::from_env().repo(repo);
        let cached = |file: &str| cache.get(file);
        let need = |file: &str| {
            cached(file).ok_or_else(|| CoreError::NotFound {
                spec: spec.to_string(),
                hint: format!(
                    "HF_HUB_OFFLINE=1 and {file} is not in the cache under {}; \
                     download it once with the network on, or unset HF_HUB_OFFLINE",
                    Cache::from_env().path().display()
                ),
            })
        };
        return Ok(ModelFiles {
            origin: format!("hf:{spec} (cache)"),
            config: Some(need("config.json")?),
            tokenizer: Some(find_tokenizer(spec, "the cache", |name| Ok(cached(name)))?),
            weights: find_weights(spec, "the cache", |name| Ok(cached(name)))?,
            modules: cached("modules.json"),
            pooling: cached(POOLING),
            sentence_config: cached(SENTENCE),
        });
    }
    let mut builder = ApiBuilder::from_env().with_progress(download_progress());
    if let Ok(token) = std::env::var("HF_TOKEN") {
        builder = builder.with_token(Some(token));
    }
    let api = builder
        .build()
        .map_err(|e| hub_err("a hub client", e.to_string()))?;
    let api = api.repo(repo);
    let info = api
        .info()
        .map_err(|e| hub_err("the file list", e.to_string()))?;
    let has = |file: &str| info.siblings.iter().any(|s| s.rfilename == file);
    let get = |file: &str| api.get(file).map_err(|e| hub_err(file, e.to_string()));
    let optional = |file: &str| -> Result<Option<PathBuf>> {
        if has(file) {
            get(file).map(Some)
        } else {
            Ok(None)
        }
    };
    Ok(ModelFiles {
        origin: format!("hf:{spec}"),
        config: Some(get("config.json")?),
        tokenizer: Some(find_tokenizer(spec, "the repo", |name| {
            if has(name) {
                get(name).map(Some)
            } else {
                Ok(None)
            }
        })?),
        weights: find_weights(spec, "the repo", |name| {
            if has(name) {
                get(name).map(Some)
            } else {
                Ok(None)
            }
        })?,
        modules: optional("modules.json")?,
        pooling: optional(POOLING)?,
        sentence_config: optional(SENTENCE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        assert!(looks_like_repo_id("sentence-transformers/all-MiniLM-L6-v2"));
        assert!(looks_like_repo_id("dslim/bert-base-NER@v1.0"));
        assert!(!looks_like_repo_id("a/b/c"));
        assert!(!looks_like_repo_id("plainname"));
        assert!(!looks_like_repo_id("a b/c"));
    }

    #[test]
    fn pytorch_weights_are_found_and_a_bare_bin_file_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        std::fs::write(dir.path().join("pytorch_model.bin"), b"PK").unwrap();
        let files = resolve(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(files.weights, dir.path().join("pytorch_model.bin"));
        // safetensors wins when both are there.
        std::fs::write(dir.path().join("model.safetensors"), b"").unwrap();
        let files = resolve(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(files.weights, dir.path().join("model.safetensors"));
        let bin = resolve(dir.path().join("pytorch_model.bin").to_str().unwrap()).unwrap_err();
        assert!(bin.to_string().contains("directory"), "{bin}");
    }

    #[test]
    fn an_index_must_name_shards_that_are_there_and_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        let index = dir.path().join("model.safetensors.index.json");
        std::fs::write(&index, r#"{"weight_map": {"a": "m-1.safetensors"}}"#).unwrap();
        let e = resolve(dir.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("m-1.safetensors"), "{e}");
        std::fs::write(dir.path().join("m-1.safetensors"), b"").unwrap();
        assert_eq!(
            resolve(dir.path().to_str().unwrap()).unwrap().weights,
            index
        );
        std::fs::write(
            &index,
            r#"{"weight_map": {"a": "../etc/passwd.safetensors"}}"#,
        )
        .unwrap();
        let e = resolve(dir.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a weights file beside the index"), "{e}");
    }

    /// Both offline cases in one test: they set process-wide variables, which tests running
    /// in parallel must not see change under them.
    #[test]
    fn offline_mode_reads_the_hub_cache_only() {
        let home = tempfile::tempdir().unwrap();
        std::env::set_var("HF_HOME", home.path());
        std::env::set_var("HF_HUB_OFFLINE", "1");
        let miss = resolve("someone/some-model");
        // The hub cache layout: refs/<revision> names a snapshot holding the files.
        let repo = home.path().join("hub/models--someone--some-model");
        let snapshot = repo.join("snapshots/0123abcd");
        std::fs::create_dir_all(snapshot.join("1_Pooling")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
        for f in [
            "config.json",
            "tokenizer.json",
            "model.safetensors",
            POOLING,
        ] {
            std::fs::write(snapshot.join(f), "{}").unwrap();
        }
        let hit = resolve("someone/some-model");
        let other_revision = resolve("someone/some-model@v2");
        std::env::remove_var("HF_HUB_OFFLINE");
        std::env::remove_var("HF_HOME");

        let msg = miss.unwrap_err().to_string();
        assert!(
            msg.contains("HF_HUB_OFFLINE") && msg.contains("config.json"),
            "{msg}"
        );
        let files = hit.unwrap();
        assert_eq!(files.weights, snapshot.join("model.safetensors"));
        assert_eq!(files.pooling, Some(snapshot.join(POOLING)));
        assert!(files.modules.is_none());
        assert!(other_revision.is_err());
    }
}
