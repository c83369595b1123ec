//! `realizar make-model`: the arguments and code of `cargo xtask make-model`, shared by path so the
//! two entry points cannot drift apart.

#[path = "../../../xtask/src/make_model.rs"]
mod shared;

pub use shared::{MakeModelArgs, run};
