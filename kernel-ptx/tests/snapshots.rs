//! Every sample kernel's PTX is a reviewed snapshot: a refactor must leave them unchanged, an
//! intended change shows up as a diff (`cargo insta review`).

use kernel_ptx::KernelType;
use std::collections::HashSet;

#[test]
fn sample_ptx_matches_snapshots() {
    for kt in KernelType::samples() {
        insta::assert_snapshot!(kt.entry_name(), kt.ptx());
    }
}

#[test]
fn entry_names_are_unique_and_generation_is_deterministic() {
    let samples = KernelType::samples();
    let names: HashSet<String> = samples.iter().map(KernelType::entry_name).collect();
    assert_eq!(names.len(), samples.len());
    for kt in &samples {
        let ptx = kt.ptx();
        assert_eq!(ptx, kt.ptx());
        assert!(ptx.contains(&format!(".visible .entry {}(", kt.entry_name())));
        let declared = ptx.matches(".param .").count();
        assert_eq!(
            declared,
            kt.params().len(),
            "{}: params() disagrees with the PTX",
            kt.entry_name()
        );
        for p in kt.params() {
            assert!(
                ptx.contains(&format!("param_{}", p.name)),
                "{} lacks param {}",
                kt.entry_name(),
                p.name
            );
        }
    }
}
