//! One module per subcommand: its clap arguments and its `run`.

pub mod bench;
pub mod chat;
pub mod convert;
pub mod generate;
pub mod info;
pub mod logits;
pub mod make_model;
pub mod tokenize;
