//! Llama-family models: files, config, tokenizer, chat templates, sampling, CPU and GPU forward.

pub mod files;
pub mod testmodel;
