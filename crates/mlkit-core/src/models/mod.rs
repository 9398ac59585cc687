//! One file per architecture: `Config` from config.json, `load(vb, cfg)`, `forward`.

pub mod bert;
pub mod deberta_v2;
pub mod distilbert;
pub mod roberta;
