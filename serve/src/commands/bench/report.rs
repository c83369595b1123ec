//! Markdown tables of gemv measurements: one row per kernel launch, M=8/M=1 time ratios, and a
//! last `## Summary` section (% of copy bandwidth at M = 1) that the device's run.sh prints.

use std::fmt::Write;

use quant_formats::GgmlType;

use super::traffic::{MatrixShape, Traffic};

/// One timed (format, shape, M).
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub format: GgmlType,
    pub shape: MatrixShape,
    pub m: u32,
    /// The kernel's entry name.
    pub kernel: String,
    /// Launches per timed graph replay (one per weight copy).
    pub launches: usize,
    /// Median and fastest time per launch, µs.
    pub median_us: f64,
    pub min_us: f64,
    pub traffic: Traffic,
    /// Every output element finite after the runs (outputs were poisoned with NaN before).
    pub outputs_finite: bool,
}

impl Measurement {
    /// Achieved bytes per second at the median.
    pub fn bytes_per_s(&self) -> f64 {
        self.traffic.total() as f64 / (self.median_us * 1e-6)
    }
}

/// The per-launch table, in measurement order.
pub fn launch_table(rows: &[Measurement], copy_bytes_per_s: f64) -> String {
    let mut out = String::from(
        "| format | matrix | N×K | M | kernel | µs (median) | µs (min) | MB moved | GB/s | % copy BW |\n\
         |---|---|---|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let gbs = r.bytes_per_s() / 1e9;
        let pct = 100.0 * r.bytes_per_s() / copy_bytes_per_s;
        let note = if r.outputs_finite {
            ""
        } else {
            " (NON-FINITE OUTPUT)"
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}{note} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} |",
            r.format,
            r.shape.name,
            r.shape.dims(),
            r.m,
            r.kernel,
            r.median_us,
            r.min_us,
            r.traffic.total() as f64 / 1e6,
            gbs,
            pct
        );
    }
    out
}

/// One row per format, one column per shape: `cell(format, shape)` or `–` when it is `None`.
fn format_by_shape(
    rows: &[Measurement],
    header: &str,
    cell: impl Fn(GgmlType, MatrixShape) -> Option<String>,
) -> String {
    let mut formats: Vec<GgmlType> = Vec::new();
    let mut shapes: Vec<MatrixShape> = Vec::new();
    for r in rows {
        if !formats.contains(&r.format) {
            formats.push(r.format);
        }
        if !shapes.contains(&r.shape) {
            shapes.push(r.shape);
        }
    }
    let mut out = format!("| {header} |");
    for s in &shapes {
        let _ = write!(out, " {} {} |", s.name, s.dims());
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(shapes.len()));
    out.push('\n');
    for &f in &formats {
        let _ = write!(out, "| {f} |");
        for &s in &shapes {
            let _ = write!(out, " {} |", cell(f, s).unwrap_or_else(|| "–".into()));
        }
        out.push('\n');
    }
    out
}

fn find(rows: &[Measurement], f: GgmlType, s: MatrixShape, m: u32) -> Option<&Measurement> {
    rows.iter()
        .find(|r| r.format == f && r.shape == s && r.m == m)
}

/// Time at M = 8 over time at M = 1 (1.00: the extra columns are free; 8.00: no reuse).
pub fn ratio_table(rows: &[Measurement]) -> String {
    format_by_shape(rows, "t(M=8)/t(M=1)", |f, s| {
        let one = find(rows, f, s, 1)?;
        let eight = find(rows, f, s, 8)?;
        Some(format!("{:.2}", eight.median_us / one.median_us))
    })
}

/// % of the measured copy bandwidth at M = 1.
pub fn summary_table(rows: &[Measurement], copy_bytes_per_s: f64) -> String {
    format_by_shape(rows, "% copy BW, M=1", |f, s| {
        let r = find(rows, f, s, 1)?;
        Some(format!("{:.0}", 100.0 * r.bytes_per_s() / copy_bytes_per_s))
    })
}

/// Per (format, matrix, M): the selected kernel's median and the fastest swept geometry's, with
/// each one's % of copy bandwidth.
pub fn sweep_table(
    selected: &[Measurement],
    swept: &[Measurement],
    copy_bytes_per_s: f64,
) -> String {
    let mut out = String::from(
        "| format | matrix | N×K | M | selected | µs | % copy BW | fastest swept | µs | % copy BW |\n\
         |---|---|---|---:|---|---:|---:|---|---:|---:|\n",
    );
    for s in selected {
        let best = swept
            .iter()
            .filter(|r| r.format == s.format && r.shape == s.shape && r.m == s.m)
            .min_by(|a, b| a.median_us.total_cmp(&b.median_us));
        let Some(best) = best else { continue };
        let pct = |r: &Measurement| 100.0 * r.bytes_per_s() / copy_bytes_per_s;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.2} | {:.1} | {} | {:.2} | {:.1} |",
            s.format,
            s.shape.name,
            s.shape.dims(),
            s.m,
            s.kernel,
            s.median_us,
            pct(s),
            best.kernel,
            best.median_us,
            pct(best)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::bench::traffic::LLAMA3_8B;

    fn row(format: GgmlType, shape: MatrixShape, m: u32, median_us: f64) -> Measurement {
        Measurement {
            format,
            shape,
            m,
            kernel: format!("gemv_m{m}"),
            launches: 2,
            median_us,
            min_us: median_us * 0.9,
            traffic: Traffic::gemv(format, shape, m).unwrap(),
            outputs_finite: true,
        }
    }

    #[test]
    fn launch_rows_give_bandwidth_and_percent_of_copy() {
        // Q4_K 4096×4096, M=1: 9_458_176 bytes in 4.7291 µs = 2000 GB/s = 50% of 4 TB/s.
        let r = row(GgmlType::Q4_K, LLAMA3_8B[0], 1, 9_458_176.0 / 2e12 * 1e6);
        let table = launch_table(&[r], 4e12);
        let line = table.lines().nth(2).unwrap();
        assert_eq!(
            line,
            "| Q4_K | attn_q/o | 4096×4096 | 1 | gemv_m1 | 4.73 | 4.26 | 9.46 | 2000 | 50.0 |"
        );
    }

    #[test]
    fn ratio_and_summary_tables_have_a_cell_per_format_and_shape() {
        let (q, kv) = (LLAMA3_8B[0], LLAMA3_8B[1]);
        let rows = vec![
            row(GgmlType::Q4_K, q, 1, 10.0),
            row(GgmlType::Q4_K, q, 8, 25.0),
            row(GgmlType::Q4_K, kv, 1, 4.0),
            row(GgmlType::Q8_0, q, 1, 20.0),
            row(GgmlType::Q8_0, q, 8, 20.0),
        ];
        let ratios = ratio_table(&rows);
        let lines: Vec<&str> = ratios.lines().collect();
        assert_eq!(
            lines[0],
            "| t(M=8)/t(M=1) | attn_q/o 4096×4096 | attn_k/v 1024×4096 |"
        );
        assert_eq!(lines[2], "| Q4_K | 2.50 | – |");
        assert_eq!(lines[3], "| Q8_0 | 1.00 | – |");

        let summary = summary_table(&rows, 1e12);
        let q4_k = summary.lines().nth(2).unwrap();
        let pct = |bytes: u64, us: f64| format!("{:.0}", 100.0 * bytes as f64 / (us * 1e-6) / 1e12);
        let want = format!(
            "| Q4_K | {} | {} |",
            pct(Traffic::gemv(GgmlType::Q4_K, q, 1).unwrap().total(), 10.0),
            pct(Traffic::gemv(GgmlType::Q4_K, kv, 1).unwrap().total(), 4.0)
        );
        assert_eq!(q4_k, want);
    }

    #[test]
    fn unwritten_outputs_are_flagged() {
        let mut r = row(GgmlType::Q6_K, LLAMA3_8B[2], 2, 50.0);
        r.outputs_finite = false;
        assert!(launch_table(&[r], 4e12).contains("NON-FINITE OUTPUT"));
    }
}
