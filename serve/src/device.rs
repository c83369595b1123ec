//! `--device`: which forward runs a model. The user names a device; [`choose_backend`] turns it
//! into a [`Backend`] that exists in this build, or into an error, never a silent substitute.

use anyhow::Context;
use clap::ValueEnum;
use gpu_runtime::Gpu;

/// A device the user can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Device {
    Cpu,
    Cuda,
}

/// Help text of every `--device` flag.
pub const DEVICE_HELP: &str = "Where the forward runs [default: cuda when a CUDA device is present \
     and this build has the CUDA forward (it does not yet), else cpu]";

/// A forward this build can run. The CUDA forward is not built yet; adding it adds a variant here
/// and the default becomes cuda when [`Gpu::new`] finds a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Cpu,
}

/// The backend for `--device` (`None`: the default).
pub fn choose_backend(requested: Option<Device>) -> anyhow::Result<Backend> {
    match requested {
        None | Some(Device::Cpu) => Ok(Backend::Cpu),
        Some(Device::Cuda) => {
            let gpu = Gpu::new(0).context("--device cuda")?;
            anyhow::bail!(
                "--device cuda: found {}, but the CUDA forward is not built yet; use --device cpu",
                gpu.name()
            )
        }
    }
}
