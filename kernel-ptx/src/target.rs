//! The GPU architecture a module is assembled for.

/// PTX `.target`. sm_90 is the product target (H100/H200); sm_80 (A100) must also assemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SmTarget {
    Sm80,
    Sm90,
}

impl SmTarget {
    /// The `.target` / `ptxas -arch` name.
    pub const fn name(self) -> &'static str {
        match self {
            SmTarget::Sm80 => "sm_80",
            SmTarget::Sm90 => "sm_90",
        }
    }

    /// Compute capability as `major * 10 + minor`.
    pub const fn cc(self) -> u32 {
        match self {
            SmTarget::Sm80 => 80,
            SmTarget::Sm90 => 90,
        }
    }

    /// The newest target a device of compute capability `major.minor` runs, or `None` below sm_80.
    pub const fn for_compute_capability(major: u32, minor: u32) -> Option<SmTarget> {
        match major * 10 + minor {
            0..80 => None,
            80..90 => Some(SmTarget::Sm80),
            _ => Some(SmTarget::Sm90),
        }
    }

    /// Programmatic dependent launch (`griddepcontrol`) exists from sm_90.
    pub const fn has_griddepcontrol(self) -> bool {
        self.cc() >= 90
    }

    /// Bulk asynchronous copies and prefetches (`cp.async.bulk*`) exist from sm_90.
    pub const fn has_bulk_prefetch(self) -> bool {
        self.cc() >= 90
    }

    /// Short tag used in entry names (`sm90`).
    pub const fn tag(self) -> &'static str {
        match self {
            SmTarget::Sm80 => "sm80",
            SmTarget::Sm90 => "sm90",
        }
    }
}
