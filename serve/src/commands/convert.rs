//! `realizar convert --from HF_DIR --dtype TYPE --out FILE.gguf`: a Hugging Face safetensors
//! checkpoint as a GGUF file, with llama.cpp's names, metadata, q/k permutation and type mix.

use anyhow::Context;
use clap::Args;
use model_llama::testmodel::WeightDtype;
use model_llama::testmodel::from_hf::{ConvertOptions, convert_hf_to_gguf};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Hugging Face checkpoint: a directory with config.json and model.safetensors (or shards).
    #[arg(long = "from", value_name = "HF_DIR")]
    pub from: PathBuf,
    /// Weight type of the matrices: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k,
    /// q4_k, q5_k, q6_k, iq4_nl, iq4_xs, or q4_k_m (llama.cpp's mix).
    #[arg(long, default_value = "f16")]
    pub dtype: WeightDtype,
    /// The GGUF file to write.
    #[arg(long, value_name = "FILE.gguf")]
    pub out: PathBuf,
}

pub fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    let made = convert_hf_to_gguf(
        &args.from,
        ConvertOptions::new(args.dtype),
        &args.out,
        &|_| {},
    )
    .with_context(|| format!("converting {}", args.from.display()))?;
    eprintln!(
        "wrote {} ({} tensors, {} bytes of tensor data)",
        args.out.display(),
        made.tensor_count,
        made.tensor_bytes
    );
    Ok(())
}
