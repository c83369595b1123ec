//! `realizar bench kernels` from the outside: a device that does not exist (on any machine, with
//! or without a GPU) and arguments it cannot run are one clear line on stderr and a non-zero exit.

use std::process::{Command, Output};

fn realizar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_realizar"))
        .args(args)
        .output()
        .expect("run realizar")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_missing_device_is_one_line_naming_it() {
    let output = realizar(&["bench", "kernels", "--device", "4096", "--formats", "q4_k"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(
        line.starts_with("error: bench kernels: opening CUDA device 4096"),
        "{line}"
    );
    assert!(
        line.contains("libcuda.so") || line.contains("no CUDA device with ordinal 4096"),
        "{line}"
    );
    assert!(
        output.stdout.is_empty(),
        "nothing measured, nothing printed"
    );
}

#[test]
fn formats_without_a_gemv_kernel_are_refused_before_any_gpu_work() {
    let output = realizar(&["bench", "kernels", "--formats", "q4_k,q8_k"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no gemv kernel for weight format \"q8_k\""),
        "{stderr}"
    );
    assert!(stderr.contains("q4_k, q5_k, q6_k"), "{stderr}");
}

#[test]
fn m_outside_one_to_eight_is_refused() {
    let output = realizar(&["bench", "kernels", "--m", "1,9"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--m"));
}
