//! One module per subcommand: its flags and how it wires files to the library.

pub mod classify;
pub mod embed;
pub mod forest;
mod gold;
pub mod models;
pub mod ner;
pub mod quantize;
pub mod sample;
mod scored;
pub mod train;
pub mod zeroshot;
