//! mlkit-forest: random forests and extra trees whose confidence is the share of trees that
//! vote for a class ("35 of 100 trees voted Consumer Goods"), with scikit-learn's averaged
//! leaf probabilities beside it.
//!
//! - `data`: CSV to numeric, categorical, text and embedding feature columns, the schema
//!   kept in the model;
//! - `text`: TF-IDF of a text column's word n-grams (learnt vocabulary or hashed);
//! - `matrix`: the feature matrix, dense columns beside sparse (text) ones;
//! - `bins`: features cut into at most 255 bins for the split search;
//! - `calibrate`: CalibratedClassifierCV's sigmoid and isotonic calibration over folds;
//! - `tree`: one CART tree on flat arrays;
//! - `forest`: bootstrap, class weights, out-of-bag score, votes, batch scoring;
//! - `model_file`: the versioned, checksummed model file (JSON metadata, binary trees);
//! - `rng`: the versioned random number generator;
//! - `plot`: the reliability diagram (SVG).

pub mod bins;
pub mod calibrate;
pub mod data;
pub mod forest;
pub mod matrix;
mod model_file;
mod parallel;
pub mod plot;
pub mod rng;
pub mod text;
pub mod tree;

pub use forest::{ClassWeight, Forest, ForestParams, MaxFeatures, Scores};
pub use parallel::{blocks, parallel_map};

#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    /// The data cannot be read or does not fit the model.
    #[error("{0}")]
    Data(String),
    /// A column the training options name is not in the data, or none is left.
    #[error("{0}")]
    Schema(String),
    #[error("model file: {0}")]
    Model(String),
    #[error("{0}")]
    Usage(String),
}

impl ForestError {
    /// Whether the error is in how mlkit was asked (a wrong parameter or column name: exit
    /// code 2), not in running it.
    pub fn is_usage(&self) -> bool {
        matches!(self, ForestError::Usage(_) | ForestError::Schema(_))
    }
}

pub type Result<T> = std::result::Result<T, ForestError>;
