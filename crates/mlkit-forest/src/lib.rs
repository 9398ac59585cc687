//! mlkit-forest: random forests and extra trees whose confidence is the share of trees that
//! vote for a class ("35 of 100 trees voted Consumer Goods"), with scikit-learn's averaged
//! leaf probabilities beside it.
//!
//! - `data`: CSV to numeric and categorical feature columns, the schema kept in the model;
//! - `tree`: one CART tree on flat arrays;
//! - `forest`: bootstrap, class weights, out-of-bag score, votes, the model file;
//! - `rng`: the versioned random number generator;
//! - `plot`: the reliability diagram (SVG).

pub mod data;
pub mod forest;
pub mod plot;
pub mod rng;
pub mod tree;

pub use forest::{ClassWeight, Forest, ForestParams, MaxFeatures};

#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    #[error("{0}")]
    Data(String),
    #[error("{0}")]
    Schema(String),
    #[error("model file: {0}")]
    Model(String),
    #[error("{0}")]
    Usage(String),
}

pub type Result<T> = std::result::Result<T, ForestError>;
