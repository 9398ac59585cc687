//! One module per subcommand: its flags and how it wires files to the library.

pub mod embed;
pub mod forest;
pub mod models;
pub mod ner;
pub mod quantize;
pub mod sample;
pub mod zeroshot;
