//! `cargo xtask device-bundle`: builds what the GPU machine runs (it has no cargo) into
//! `target/device/`: a gzipped tarball of stripped release binaries and `run.sh`.
//!
//! The tarball holds every test target of the workspace that has GPU tests (tests ignored with
//! the reason "needs a CUDA device"), the `realizar` binary, `manifest.tsv` (binary name, then
//! the crate folder to run it from, relative to the workspace root) and `bundle.env` (the
//! workspace root these binaries were built in: `env!("CARGO_MANIFEST_DIR")` paths point there).
//! `run.sh` is `scripts/device/run.sh`; it unpacks the tarball and runs everything.
//!
//! Selection reads `cargo metadata`; executables come from `cargo test --no-run
//! --message-format=json` in the plain release profile (so they share `target/release` with
//! other release builds); the staged copies are then stripped with `strip`.

use anyhow::{Context, bail, ensure};
use clap::Args;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The attribute that marks a GPU test, split so that this file does not match it.
const GPU_TEST_MARKER: &str = concat!("#[ignore = \"needs a CUDA", " device\"]");

/// The tarball's name inside `target/device/`.
const TARBALL: &str = "realizar-device.tar.gz";

#[derive(Debug, Args)]
pub struct DeviceBundleArgs {
    /// Largest tarball accepted, in MiB. The device carries at most 64 MiB of working tree,
    /// about 31 MiB of it fixtures.
    #[arg(long, default_value_t = 30)]
    pub max_mib: u64,
}

/// A cargo target with GPU tests.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GpuTarget {
    package: String,
    /// `test`, `lib` or `bin`.
    kind: String,
    name: String,
    /// The package folder relative to the workspace root, e.g. `gpu-runtime`.
    crate_dir: PathBuf,
}

impl GpuTarget {
    /// The name of its binary in the bundle, e.g. `gpu-runtime.gpu_launch`.
    fn bundle_name(&self) -> String {
        match self.kind.as_str() {
            "lib" => format!("{}.lib", self.package),
            _ => format!("{}.{}", self.package, self.name),
        }
    }

    /// The `cargo test` flag selecting it.
    fn select_flags(&self) -> Vec<String> {
        match self.kind.as_str() {
            "lib" => vec!["--lib".into()],
            kind => vec![format!("--{kind}"), self.name.clone()],
        }
    }
}

/// One executable to pack.
struct Built {
    bundle_name: String,
    crate_dir: PathBuf,
    path: PathBuf,
}

pub fn run(args: &DeviceBundleArgs) -> anyhow::Result<()> {
    let metadata = cargo_metadata()?;
    let root = PathBuf::from(str_field(&metadata, "workspace_root")?);
    let target_dir = PathBuf::from(str_field(&metadata, "target_directory")?);
    let targets = gpu_targets(&metadata, &root)?;
    ensure!(!targets.is_empty(), "no test target has GPU tests");

    let mut built = Vec::new();
    let mut by_package: BTreeMap<&str, Vec<&GpuTarget>> = BTreeMap::new();
    for t in &targets {
        by_package.entry(&t.package).or_default().push(t);
    }
    for (package, targets) in by_package {
        built.extend(build_tests(&root, package, &targets)?);
    }
    built.push(Built {
        bundle_name: "realizar".into(),
        crate_dir: PathBuf::from("serve"),
        path: build_realizar(&root)?,
    });

    let stage = target_dir.join("device-stage");
    let out = target_dir.join("device");
    for dir in [&stage, &out] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(stage.join("bin"))?;
    std::fs::create_dir_all(&out)?;
    let mut manifest = String::new();
    println!("{:<40} {:>10}", "binary (stripped)", "MiB");
    for b in &built {
        let dest = stage.join("bin").join(&b.bundle_name);
        std::fs::copy(&b.path, &dest)
            .with_context(|| format!("copying {} to {}", b.path.display(), dest.display()))?;
        run_checked(
            Command::new("strip").arg("--strip-all").arg(&dest),
            "strip (binutils)",
        )?;
        println!("{:<40} {:>10.2}", b.bundle_name, mib(file_len(&dest)?));
        if b.bundle_name != "realizar" {
            manifest.push_str(&format!("{}\t{}\n", b.bundle_name, b.crate_dir.display()));
        }
    }
    std::fs::write(stage.join("manifest.tsv"), manifest)?;
    std::fs::write(
        stage.join("bundle.env"),
        format!("BUILD_ROOT='{}'\n", root.display()),
    )?;

    let tarball = out.join(TARBALL);
    run_checked(
        Command::new("tar")
            .arg("--owner=0")
            .arg("--group=0")
            .arg("--numeric-owner")
            .arg("-czf")
            .arg(&tarball)
            .arg("-C")
            .arg(&stage)
            .arg("."),
        "tar",
    )?;
    let script = root.join("scripts/device/run.sh");
    let run_sh = out.join("run.sh");
    std::fs::copy(&script, &run_sh).with_context(|| format!("copying {}", script.display()))?;
    set_executable(&run_sh)?;

    let size = file_len(&tarball)?;
    println!("{:<40} {:>10.2}", TARBALL, mib(size));
    if size > args.max_mib << 20 {
        bail!(
            "{} is {:.1} MiB, over the {} MiB limit",
            tarball.display(),
            mib(size),
            args.max_mib
        );
    }
    println!(
        "bundle ready: {} ({:.1} MiB). On the device: carry [\"{}\"], run `bash {}`",
        out.display(),
        mib(size),
        relative(&out, &root).display(),
        relative(&run_sh, &root).display()
    );
    Ok(())
}

fn cargo() -> Command {
    // `cargo xtask` runs under cargo, which names itself in `CARGO`.
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn cargo_metadata() -> anyhow::Result<Value> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    ensure!(output.status.success(), "cargo metadata failed");
    serde_json::from_slice(&output.stdout).context("parsing cargo metadata")
}

fn str_field<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v[key]
        .as_str()
        .with_context(|| format!("cargo metadata: no string field {key}"))
}

/// Targets of workspace packages whose sources hold the GPU-test marker: a `test` target's own
/// file, or any `.rs` file under a `lib`/`bin` target's folder (its unit tests).
fn gpu_targets(metadata: &Value, root: &Path) -> anyhow::Result<Vec<GpuTarget>> {
    let mut found = Vec::new();
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata: no packages")?;
    for package in packages {
        let name = str_field(package, "name")?;
        let manifest = PathBuf::from(str_field(package, "manifest_path")?);
        let crate_dir = manifest
            .parent()
            .context("manifest path has no parent")?
            .to_path_buf();
        for target in package["targets"].as_array().into_iter().flatten() {
            let kinds: Vec<&str> = target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let src = PathBuf::from(str_field(target, "src_path")?);
            let (kind, has_gpu_tests) = if kinds.contains(&"test") {
                ("test", file_has_marker(&src)?)
            } else if kinds.contains(&"lib") || kinds.contains(&"bin") {
                let dir = src.parent().context("source path has no parent")?;
                let kind = if kinds.contains(&"lib") { "lib" } else { "bin" };
                (kind, dir_has_marker(dir)?)
            } else {
                continue;
            };
            if has_gpu_tests {
                found.push(GpuTarget {
                    package: name.to_string(),
                    kind: kind.to_string(),
                    name: str_field(target, "name")?.to_string(),
                    crate_dir: relative(&crate_dir, root),
                });
            }
        }
    }
    Ok(found)
}

fn file_has_marker(path: &Path) -> anyhow::Result<bool> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.contains(GPU_TEST_MARKER))
}

fn dir_has_marker(dir: &Path) -> anyhow::Result<bool> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let hit = if path.is_dir() {
            dir_has_marker(&path)?
        } else {
            path.extension().is_some_and(|e| e == "rs") && file_has_marker(&path)?
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `cargo test --release --no-run` for `targets` of `package`; their executables.
fn build_tests(root: &Path, package: &str, targets: &[&GpuTarget]) -> anyhow::Result<Vec<Built>> {
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args(["test", "--release", "--locked", "--no-run", "-p", package])
        .args(targets.iter().flat_map(|t| t.select_flags()))
        .arg("--message-format=json-render-diagnostics");
    let artifacts = artifacts(&mut cmd, &format!("cargo test -p {package}"))?;
    targets
        .iter()
        .map(|t| {
            let path = artifacts
                .iter()
                .find(|a| a.test && a.target == t.name && a.kinds.iter().any(|k| k == &t.kind))
                .map(|a| a.executable.clone())
                .with_context(|| format!("cargo built no executable for {}", t.bundle_name()))?;
            Ok(Built {
                bundle_name: t.bundle_name(),
                crate_dir: t.crate_dir.clone(),
                path,
            })
        })
        .collect()
}

fn build_realizar(root: &Path) -> anyhow::Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "serve",
            "--bin",
            "realizar",
        ])
        .arg("--message-format=json-render-diagnostics");
    artifacts(&mut cmd, "cargo build -p serve")?
        .into_iter()
        .find(|a| !a.test && a.target == "realizar")
        .map(|a| a.executable)
        .context("cargo built no realizar executable")
}

/// An executable cargo reported (`reason: compiler-artifact`).
struct Artifact {
    target: String,
    kinds: Vec<String>,
    test: bool,
    executable: PathBuf,
}

/// Runs a cargo command with JSON messages on stdout; the executables it reports.
fn artifacts(cmd: &mut Command, what: &str) -> anyhow::Result<Vec<Artifact>> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut found = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let message: Value = match serde_json::from_str(&line?) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let target = &message["target"];
        found.push(Artifact {
            target: target["name"].as_str().unwrap_or_default().to_string(),
            kinds: target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect(),
            test: message["profile"]["test"].as_bool().unwrap_or(false),
            executable: PathBuf::from(executable),
        });
    }
    let status = child.wait()?;
    ensure!(status.success(), "{what} failed ({status})");
    Ok(found)
}

fn run_checked(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("starting {what}"))?;
    ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}

fn file_len(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// `path` relative to `root` when it lies inside it, else `path` itself.
fn relative(path: &Path, root: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

#[cfg(unix)]
fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: &str, name: &str) -> GpuTarget {
        GpuTarget {
            package: "gpu-runtime".into(),
            kind: kind.into(),
            name: name.into(),
            crate_dir: "gpu-runtime".into(),
        }
    }

    #[test]
    fn bundle_names_and_cargo_flags_follow_the_target_kind() {
        let t = target("test", "gpu_launch");
        assert_eq!(t.bundle_name(), "gpu-runtime.gpu_launch");
        assert_eq!(t.select_flags(), ["--test", "gpu_launch"]);
        let l = target("lib", "gpu_runtime");
        assert_eq!(l.bundle_name(), "gpu-runtime.lib");
        assert_eq!(l.select_flags(), ["--lib"]);
    }

    /// Against this workspace's own metadata: the GPU test files are found, nothing else is,
    /// and this file (which names the marker) is not mistaken for one.
    #[test]
    fn selection_finds_the_gpu_test_files_of_this_workspace() {
        let metadata = cargo_metadata().unwrap();
        let root = PathBuf::from(str_field(&metadata, "workspace_root").unwrap());
        let found = gpu_targets(&metadata, &root).unwrap();
        let names: Vec<String> = found.iter().map(GpuTarget::bundle_name).collect();
        for expected in ["gpu-runtime.gpu_device", "gpu-runtime.gpu_launch"] {
            assert!(names.iter().any(|n| n == expected), "{names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("xtask")), "{names:?}");
        for t in &found {
            let dir = root.join(&t.crate_dir);
            assert!(dir.join("Cargo.toml").is_file(), "{t:?}");
            if t.kind == "test" {
                let file = dir.join("tests").join(format!("{}.rs", t.name));
                assert!(file_has_marker(&file).unwrap(), "{t:?}");
            }
        }
    }
}
