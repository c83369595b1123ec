//! `realizar bench kernels`: times every matrix-vector kernel `select_matvec` picks, per weight
//! format and M, at the Llama-3-8B shapes, against the device's measured copy bandwidth.
//!
//! Method (the device notes' METHOD.md): a pool of at least `--rotate-mib` of random valid
//! weights holds many copies of each matrix; one CUDA graph launches the kernel once per copy
//! (so no launch reads weights from L2 and host launch gaps stay out of the numbers); each
//! sample is one replay between CUDA events, divided by the launches in it; warm-up replays
//! first (at least `MIN_WARMUP` of them, so clocks have ramped up after an idle upload); the
//! median of `--iters` samples is reported. Outputs are poisoned with NaN before and checked
//! finite after. Kernels that wait on `griddepcontrol.wait` run with programmatic
//! dependent launch (as decode will) unless `--no-pdl`.

use anyhow::{Context, bail};
use clap::Args;
use gpu_runtime::{Gpu, GpuError, GpuOptions, kernel_args};
use kernel_ptx::{
    EARLY_BLOCKS_PER_SM, Gemv, KernelType, LaunchDims, SmTarget, gemv_formats, select_matvec,
    select_tensor_core_matvec,
};
use quant_formats::GgmlType;

use super::copy_bandwidth::{self, CopyBandwidth};
use super::report::{self, Measurement};
use super::traffic::{LLAMA3_8B, MatrixShape, Traffic};
use super::weights::{WeightPool, activations, pool_bytes};

#[derive(Debug, Args)]
pub struct KernelsArgs {
    /// Weight formats, comma-separated ggml names (default: every format with a gemv kernel).
    #[arg(long, value_delimiter = ',', value_parser = parse_format)]
    pub formats: Vec<GgmlType>,
    /// Activation columns per launch.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2, 4, 8],
          value_parser = clap::value_parser!(u32).range(1..=8))]
    pub m: Vec<u32>,
    /// Matrices, comma-separated names from: attn_q/o, attn_k/v, ffn_gate/up, ffn_down, output
    /// (default: all).
    #[arg(long, value_delimiter = ',', value_parser = parse_shape)]
    pub shapes: Vec<MatrixShape>,
    /// Timed graph replays per (format, matrix, M); the median is reported.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(20..))]
    pub iters: u32,
    /// Untimed replays first (after at least `MIN_WARMUP` of replays).
    #[arg(long, default_value_t = 5)]
    pub warmup: u32,
    /// Weights rotated through per format, MiB (at least several times the L2 cache).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(256..))]
    pub rotate_mib: u64,
    /// Launch without programmatic dependent launch.
    #[arg(long)]
    pub no_pdl: bool,
    /// CUDA device ordinal.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Also time the variants of these bodies per format, matrix and M (every body when
    /// given without a value) and print the fastest next to the selected one: `dp4a` (the
    /// `SWEEP_GEOMETRIES`, staged and unstaged), `tc` (`SWEEP_TENSOR_CORE_WARPS`), `wb`
    /// (`SWEEP_WHOLE_BLOCKS`), the last two for formats that have them; `bulk` (the dp4a
    /// body's warps with `SWEEP_BULK` rows, blocks per SM, stages and visits, weights by bulk
    /// copies); `groups` (the selected one-warp kernel with 2, 4 and 8 independent warps per
    /// block).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_missing_values = ["dp4a", "tc", "wb", "bulk", "groups"])]
    pub sweep: Vec<SweepBody>,
}

/// A gemv body `--sweep` can time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SweepBody {
    Dp4a,
    Tc,
    Wb,
    Bulk,
    Groups,
}

/// Replays before every measurement last at least this long (then `--warmup` more).
const MIN_WARMUP: std::time::Duration = std::time::Duration::from_millis(50);

/// Warps per 16-row tile tried by `--sweep` for formats with a tensor-core body.
const SWEEP_TENSOR_CORE_WARPS: [u8; 4] = [1, 2, 4, 8];

/// `(slices, warps, stages, blocks per SM)` of the whole-block body tried by `--sweep`; 0
/// blocks per SM: one block per row group, otherwise persistent (`Gemv::persistent`).
const SWEEP_WHOLE_BLOCKS: [(u8, u8, u8, u8); 12] = [
    (8, 1, 2, 0),
    (8, 2, 2, 0),
    (8, 4, 2, 0),
    (8, 4, 1, 0),
    (8, 4, 2, 3),
    (8, 2, 2, 10),
    (8, 4, 2, 4),
    (8, 4, 2, 5),
    (8, 4, 1, 4),
    (8, 4, 1, 5),
    (4, 4, 2, 0),
    (2, 2, 2, 0),
];

/// `(rows, blocks per SM, stages, visits per stage)` of the streamed dp4a body tried by
/// `--sweep bulk` (`Gemv::streamed`).
const SWEEP_BULK: [(u8, u8, u8, u8); 18] = [
    (1, 8, 4, 2),
    (1, 16, 4, 2),
    (1, 16, 2, 4),
    (1, 16, 4, 4),
    (1, 32, 2, 2),
    (1, 32, 3, 4),
    (2, 4, 4, 2),
    (2, 8, 2, 2),
    (2, 8, 4, 2),
    (2, 8, 3, 4),
    (2, 16, 2, 2),
    (2, 16, 4, 2),
    (2, 16, 2, 4),
    (4, 4, 4, 2),
    (4, 8, 2, 2),
    (4, 8, 4, 1),
    (4, 8, 2, 4),
    (4, 16, 2, 2),
];

/// `(warps, rows)` per block tried by `--sweep`.
const SWEEP_GEOMETRIES: [(u8, u8); 12] = [
    (1, 1),
    (1, 2),
    (1, 4),
    (2, 1),
    (2, 2),
    (2, 4),
    (4, 1),
    (4, 2),
    (4, 4),
    (8, 1),
    (8, 2),
    (8, 4),
];

fn parse_format(name: &str) -> Result<GgmlType, String> {
    let formats = gemv_formats();
    GgmlType::from_name(name)
        .filter(|f| formats.contains(f))
        .ok_or_else(|| {
            let names: Vec<String> = formats
                .iter()
                .map(|f| f.name().to_ascii_lowercase())
                .collect();
            format!(
                "no gemv kernel for weight format {name:?}; one of {}",
                names.join(", ")
            )
        })
}

fn parse_shape(name: &str) -> Result<MatrixShape, String> {
    LLAMA3_8B
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = LLAMA3_8B.iter().map(|s| s.name).collect();
            format!("unknown matrix {name:?}; one of {}", names.join(", "))
        })
}

/// The NVIDIA kernel module's version line (Linux).
const NVIDIA_VERSION_FILE: &str = "/proc/driver/nvidia/version";

/// `580.159.03` from `NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.03  <date>` (or
/// the open module's `… Open Kernel Module for x86_64  580.159.03  Release Build …`): the first
/// word of dotted digits.
fn kernel_module_version(text: &str) -> Option<&str> {
    text.lines()
        .next()?
        .split_whitespace()
        .find(|word| word.contains('.') && word.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Bytes of each of the two buffers of the copy-bandwidth measurement.
const COPY_BYTES: usize = 2 << 30;
/// Timed copies (median) after 3 untimed ones.
const COPY_ITERS: usize = 20;

pub fn run(args: &KernelsArgs) -> anyhow::Result<()> {
    let formats = if args.formats.is_empty() {
        gemv_formats()
    } else {
        args.formats.clone()
    };
    let shapes = if args.shapes.is_empty() {
        LLAMA3_8B.to_vec()
    } else {
        args.shapes.clone()
    };
    let options = GpuOptions {
        programmatic_dependent_launch: !args.no_pdl,
    };
    let gpu = Gpu::with_options(args.device, options)
        .with_context(|| format!("bench kernels: opening CUDA device {}", args.device))?;
    let profile = gpu.profile();
    let (major, minor) = profile.compute_capability;
    println!("# realizar bench kernels ({})", env!("CARGO_PKG_VERSION"));
    println!();
    println!(
        "device: {}, {} SMs, cc {major}.{minor}, L2 {} MiB, {:.0} GiB, driver {}",
        gpu.name(),
        profile.sm_count,
        profile.l2_cache_bytes >> 20,
        profile.total_memory_bytes as f64 / f64::from(1 << 30),
        std::fs::read_to_string(NVIDIA_VERSION_FILE)
            .ok()
            .as_deref()
            .and_then(kernel_module_version)
            .unwrap_or("unknown"),
    );
    println!(
        "config: {options:?}, iters {}, warmup {}, rotate ≥ {} MiB per format",
        args.iters, args.warmup, args.rotate_mib
    );
    let copy = copy_bandwidth::measure(&gpu, COPY_BYTES, 3, COPY_ITERS)?;
    print_copy_bandwidth(&copy);
    let copy_bw = copy.bytes_per_s();

    let mut rows = Vec::new();
    let mut swept = Vec::new();
    let mut failures = Vec::new();
    for &format in &formats {
        bench_format(
            &gpu,
            args,
            format,
            &shapes,
            &mut rows,
            &mut swept,
            &mut failures,
        );
    }
    println!();
    println!("## Launches");
    println!();
    println!(
        "Per launch: median and fastest of {} samples, each one CUDA-graph replay over \
         distinct weight copies divided by its launches. MB moved = weights + activations + \
         outputs, each once. % copy BW: of {:.0} GB/s.",
        args.iters,
        copy_bw / 1e9
    );
    println!();
    print!("{}", report::launch_table(&rows, copy_bw));
    if args.m.contains(&1) && args.m.contains(&8) {
        println!();
        println!("## M=8 / M=1 time");
        println!();
        print!("{}", report::ratio_table(&rows));
    }
    if args.m.contains(&1) {
        println!();
        println!("## Summary: % of copy bandwidth at M=1");
        println!();
        print!("{}", report::summary_table(&rows, copy_bw));
    }
    if !args.sweep.is_empty() {
        println!();
        println!("## Geometry sweep");
        println!();
        print!("{}", report::sweep_table(&rows, &swept, copy_bw));
    }
    if !failures.is_empty() {
        bail!("{} failed: {}", failures.len(), failures.join("; "));
    }
    Ok(())
}

fn print_copy_bandwidth(copy: &CopyBandwidth) {
    println!(
        "copy bandwidth: {:.0} GB/s (cuMemcpyDtoD of {} MiB, read + write, median of {}; \
         min {:.3} ms, median {:.3} ms)",
        copy.bytes_per_s() / 1e9,
        copy.copy_bytes >> 20,
        copy.timing.samples_ms.len(),
        copy.timing.min_ms(),
        copy.timing.median_ms()
    );
}

/// Every shape and M of one format over one weight pool. A failure (or an unwritten output)
/// is printed and recorded in `failures`; the other measurements go on.
fn bench_format(
    gpu: &Gpu,
    args: &KernelsArgs,
    format: GgmlType,
    shapes: &[MatrixShape],
    rows: &mut Vec<Measurement>,
    swept: &mut Vec<Measurement>,
    failures: &mut Vec<String>,
) {
    let mut fail = |what: String| {
        eprintln!("error: {what}");
        failures.push(what);
    };
    let pool = match upload_pool(gpu, args, format, shapes) {
        Ok(pool) => pool,
        Err(e) => return fail(format!("{format}: {e:#}")),
    };
    for &shape in shapes {
        for &m in &args.m {
            let label = format!("{format} {} {} M={m}", shape.name, shape.dims());
            let selected = select_matvec(format, m, weight_shape(shape), &gpu.profile().lite());
            match selected
                .map_err(anyhow::Error::from)
                .and_then(|k| bench_one(gpu, args, &pool, shape, k))
            {
                Ok(row) => {
                    eprintln!(
                        "{label}: {:.2} µs, {:.0} GB/s",
                        row.median_us,
                        row.bytes_per_s() / 1e9
                    );
                    if !row.outputs_finite {
                        fail(format!("{label}: non-finite outputs"));
                    }
                    rows.push(row);
                }
                Err(e) => fail(format!("{label}: {e:#}")),
            }
            // The selected kernel's twins, to show what staging, the L2 prefetch and the
            // tensor cores buy.
            let profile = gpu.profile().lite();
            let selected = match select_matvec(format, m, weight_shape(shape), &profile) {
                Ok(KernelType::Gemv(g)) => Some(g),
                _ => None,
            };
            let mut twins =
                selected.map_or_else(Vec::new, |g| selected_twins(g, gpu.profile().sm_count));
            if let Ok(Some(KernelType::Gemv(tc))) = select_tensor_core_matvec(format, m, &profile) {
                twins.push(tc);
            }
            for twin in twins {
                if let Err(e) = time_variant(gpu, args, &pool, shape, twin, &label, swept) {
                    fail(e);
                }
            }
            if args.sweep.is_empty() {
                continue;
            }
            let (major, minor) = gpu.profile().compute_capability;
            let Some(target) = SmTarget::for_compute_capability(major, minor) else {
                fail(format!("{label}: no PTX target for this device"));
                continue;
            };
            let sm_count = gpu.profile().sm_count;
            let grouped = selected
                .filter(|_| args.sweep.contains(&SweepBody::Groups))
                .map_or_else(Vec::new, |g| grouped_variants(g, sm_count));
            let variants = sweep_variants(format, m as u8, target, sm_count, &args.sweep);
            for variant in variants.into_iter().chain(grouped) {
                if let Err(e) = time_variant(gpu, args, &pool, shape, variant, &label, swept) {
                    fail(e);
                }
            }
        }
    }
}

/// `shape` as selection takes it.
fn weight_shape(shape: MatrixShape) -> kernel_ptx::WeightShape {
    kernel_ptx::WeightShape {
        n: shape.n,
        k: shape.k,
    }
}

/// Times `variant` (labelled `label` and its entry name) for the sweep table; `Err` says why
/// it has no row.
fn time_variant(
    gpu: &Gpu,
    args: &KernelsArgs,
    pool: &WeightPool,
    shape: MatrixShape,
    variant: Gemv,
    label: &str,
    swept: &mut Vec<Measurement>,
) -> Result<(), String> {
    let label = format!("{label} {}", variant.entry_name());
    match bench_one(gpu, args, pool, shape, KernelType::Gemv(variant)) {
        Ok(row) if row.outputs_finite => {
            eprintln!("{label}: {:.2} µs", row.median_us);
            swept.push(row);
            Ok(())
        }
        Ok(_) => Err(format!("{label}: non-finite outputs")),
        Err(e) => Err(format!("{label}: {e:#}")),
    }
}

/// The variants `--sweep` times for `format` at `m` columns: every geometry of the chosen
/// bodies that the format and target admit.
fn sweep_variants(
    format: GgmlType,
    m: u8,
    target: SmTarget,
    sm_count: u32,
    bodies: &[SweepBody],
) -> Vec<Gemv> {
    let mut out = Vec::new();
    if bodies.contains(&SweepBody::Dp4a) {
        for (warps, rows) in SWEEP_GEOMETRIES {
            if let Ok(g) = Gemv::new(format, m, warps, rows, target) {
                out.push(g);
                if g.staged().stages_weights() {
                    out.push(g.staged());
                }
            }
        }
    }
    if bodies.contains(&SweepBody::Tc) {
        out.extend(
            SWEEP_TENSOR_CORE_WARPS
                .iter()
                .filter_map(|&w| Gemv::tensor_core(format, m, w, target).ok()),
        );
    }
    if bodies.contains(&SweepBody::Bulk) {
        let (warps, _) = kernel_ptx::kernels::gemv::default_geometry(format);
        out.extend(
            SWEEP_BULK
                .iter()
                .filter_map(|&(rows, blocks_per_sm, stages, visits)| {
                    Gemv::new(format, m, warps, rows, target)
                        .and_then(|g| g.streamed(sm_count, blocks_per_sm, stages, visits))
                        .ok()
                }),
        );
    }
    if bodies.contains(&SweepBody::Wb) {
        out.extend(SWEEP_WHOLE_BLOCKS.iter().filter_map(
            |&(slices, warps, stages, blocks_per_sm)| {
                let g = Gemv::whole_blocks(format, m, slices, warps, stages, target).ok()?;
                match blocks_per_sm {
                    0 => Some(g),
                    b => g.persistent(sm_count, b).ok(),
                }
            },
        ));
    }
    out
}

/// The selected one-warp kernel `g` with 2, 4 and 8 warp groups, and with two warp groups
/// and other first-wave early-weight counts (`SWEEP_GROUP_EARLY_BLOCKS`) where it loads
/// weights early.
fn grouped_variants(g: Gemv, sm_count: u32) -> Vec<Gemv> {
    let mut out: Vec<Gemv> = [2, 4, 8]
        .into_iter()
        .filter_map(|n| g.with_warp_groups(n).ok())
        .collect();
    if g.loads_weights_before_wait() {
        out.extend(SWEEP_GROUP_EARLY_BLOCKS.iter().filter_map(|&blocks| {
            g.without_early_weights()
                .weights_before_wait(sm_count, blocks)
                .and_then(|g| g.with_warp_groups(2))
                .ok()
        }));
    }
    out
}

/// First-wave early-weight blocks per SM tried with two warp groups by `--sweep groups`.
const SWEEP_GROUP_EARLY_BLOCKS: [u8; 3] = [2, 4, 16];

/// The selected kernel with staging toggled (where the format stages), with the L2 prefetch
/// toggled (where the target has it), with the first wave's early weights toggled and, when
/// it streams its weights or groups warps, without that.
fn selected_twins(g: Gemv, sm_count: u32) -> Vec<Gemv> {
    let mut twins = Vec::new();
    if g.streams_weights() {
        twins.push(g.not_streamed());
    }
    if g.warp_groups() > 1
        && let Ok(one) = g.with_warp_groups(1)
    {
        twins.push(one);
    }
    if g.staged().stages_weights() {
        twins.push(if g.stages_weights() {
            g.unstaged()
        } else {
            g.staged()
        });
    }
    if g.l2_prefetched().prefetches_l2() {
        twins.push(if g.prefetches_l2() {
            g.not_l2_prefetched()
        } else {
            g.l2_prefetched()
        });
    }
    let toggled = if g.loads_weights_before_wait() {
        Ok(g.without_early_weights())
    } else {
        g.weights_before_wait(sm_count, EARLY_BLOCKS_PER_SM)
    };
    if let Ok(twin) = toggled
        && twin != g
    {
        twins.push(twin);
    }
    twins
}

/// A pool of `format` weights for `shapes` (see [`pool_bytes`]).
fn upload_pool(
    gpu: &Gpu,
    args: &KernelsArgs,
    format: GgmlType,
    shapes: &[MatrixShape],
) -> anyhow::Result<WeightPool> {
    let largest = shapes
        .iter()
        .map(|&s| Traffic::gemv(format, s, 1).map(|t| t.weights))
        .collect::<anyhow::Result<Vec<u64>>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    let len = pool_bytes(
        usize::try_from(args.rotate_mib << 20)?,
        usize::try_from(largest)?,
        format,
    );
    WeightPool::upload(gpu, format, len, u64::from(format.id()))
}

fn bench_one(
    gpu: &Gpu,
    args: &KernelsArgs,
    pool: &WeightPool,
    shape: MatrixShape,
    kernel: KernelType,
) -> anyhow::Result<Measurement> {
    let format = pool.format;
    let m = match &kernel {
        KernelType::Gemv(g) => u32::from(g.m()),
        other => bail!("bench kernels times gemv kernels only, not {other:?}"),
    };
    let traffic = Traffic::gemv(format, shape, m)?;
    let copies = pool.copies(usize::try_from(traffic.weights)?)?;
    let x = gpu.upload(&activations(format, m, shape.k, u64::from(m))?)?;
    let mut y = gpu.alloc::<f32>(m as usize * shape.n as usize)?;
    y.fill_bytes(0xFF)?;
    gpu.preload(&[kernel])?;
    let dims = LaunchDims {
        n: shape.n,
        k: shape.k,
        m,
        ..LaunchDims::default()
    };
    let graph = gpu.capture(|gpu| {
        for w in &copies {
            gpu.launch(&kernel, &dims, &kernel_args![w, &x, &y, shape.n, shape.k])?;
        }
        Ok::<(), GpuError>(())
    })?;
    // Clocks drop while the GPU idles (e.g. during a pool upload): the first kernel measured
    // after it read ~5-13 % slow on the H200 with count-based warm-up alone.
    let warm_start = std::time::Instant::now();
    while warm_start.elapsed() < MIN_WARMUP {
        graph.replay()?;
        gpu.synchronize()?;
    }
    let timer = gpu_runtime::EventTimer::new(gpu)?;
    let timing = timer.measure(args.warmup as usize, args.iters as usize, || graph.replay())?;
    gpu.synchronize()?;
    let outputs_finite = y.to_host()?.iter().all(|v| v.is_finite());
    let per_launch_us = |ms: f32| f64::from(ms) * 1e3 / copies.len() as f64;
    Ok(Measurement {
        format,
        shape,
        m,
        kernel: kernel.entry_name(),
        launches: copies.len(),
        median_us: per_launch_us(timing.median_ms()),
        min_us: per_launch_us(timing.min_ms()),
        traffic,
        outputs_finite,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_by_ggml_name_and_need_a_gemv_kernel() {
        assert_eq!(parse_format("q4_k"), Ok(GgmlType::Q4_K));
        assert_eq!(parse_format("IQ4_XS"), Ok(GgmlType::IQ4_XS));
        let err = parse_format("q8_k").unwrap_err();
        assert!(err.contains("q4_k") && err.contains("\"q8_k\""), "{err}");
        assert!(parse_format("q9_9").is_err());
    }

    #[test]
    fn driver_version_is_read_from_the_kernel_module_line() {
        let text = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.03  \
                    Release Build  (dvs-builder@U22-I3-AE18-23-3)  Thu Oct 9 2025\n\
                    GCC version:  gcc version 11.4.0\n";
        assert_eq!(kernel_module_version(text), Some("580.159.03"));
        let text = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 \
                    01:15:15 UTC 2023\nGCC version:  gcc version 12.2.0\n";
        assert_eq!(kernel_module_version(text), Some("535.104.05"));
        assert_eq!(kernel_module_version("GCC version: 12\n"), None);
    }

    #[test]
    fn sweep_takes_bodies_or_all_and_lists_only_admitted_variants() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: KernelsArgs,
        }
        let parse = |extra: &[&str]| {
            let argv = ["bench"].iter().chain(extra).copied();
            <Cli as clap::Parser>::try_parse_from(argv).map(|c| c.args.sweep)
        };
        assert_eq!(parse(&[]).unwrap(), []);
        let all = [
            SweepBody::Dp4a,
            SweepBody::Tc,
            SweepBody::Wb,
            SweepBody::Bulk,
            SweepBody::Groups,
        ];
        assert_eq!(parse(&["--sweep"]).unwrap(), all);
        assert_eq!(
            parse(&["--sweep", "wb,tc"]).unwrap(),
            [SweepBody::Wb, SweepBody::Tc]
        );
        assert!(parse(&["--sweep", "mmq"]).is_err());

        let q6_k = sweep_variants(GgmlType::Q6_K, 1, SmTarget::Sm90, 132, &all);
        assert!(!q6_k.is_empty());
        assert!(
            q6_k.iter()
                .all(|g| !g.uses_tensor_cores() && !g.uses_whole_blocks())
        );
        let q4_k = sweep_variants(GgmlType::Q4_K, 1, SmTarget::Sm90, 132, &[SweepBody::Wb]);
        assert!(!q4_k.is_empty() && q4_k.iter().all(|g| g.uses_whole_blocks()));
        let bulk = sweep_variants(GgmlType::Q4_K, 1, SmTarget::Sm90, 132, &[SweepBody::Bulk]);
        assert_eq!(bulk.len(), SWEEP_BULK.len());
        assert!(bulk.iter().all(|g| g.streams_weights() && g.warps() == 1));
        let f16 = sweep_variants(GgmlType::F16, 1, SmTarget::Sm90, 132, &[SweepBody::Bulk]);
        assert!(
            f16.is_empty(),
            "F16 does not read weights from shared memory"
        );
    }

    #[test]
    fn twins_toggle_what_the_selected_kernel_adds() {
        let q4_k = Gemv::new(GgmlType::Q4_K, 1, 1, 2, SmTarget::Sm90).unwrap();
        let early = q4_k.weights_before_wait(132, EARLY_BLOCKS_PER_SM).unwrap();
        let grouped = early.with_warp_groups(2).unwrap();
        let twins = selected_twins(grouped, 132);
        assert!(twins.contains(&early), "without warp groups");
        assert!(
            twins.contains(&q4_k.with_warp_groups(2).unwrap()),
            "without early weights"
        );
        let streamed = q4_k.streamed(132, 16, 2, 2).unwrap();
        assert!(selected_twins(streamed, 132).contains(&q4_k));
    }

    #[test]
    fn shapes_parse_by_tensor_name() {
        assert_eq!(parse_shape("ffn_down").unwrap().k, 14336);
        assert!(parse_shape("ffn_up").unwrap_err().contains("ffn_gate/up"));
    }
}
