//! Llama-family models: files, config, tokenizer, chat templates, sampling, CPU and GPU forward.

pub mod chat_template;
pub mod config;
pub mod files;
pub mod forward;
pub mod generate;
pub mod sampling;
pub mod testmodel;
pub mod tokenizer;
pub mod weights;
