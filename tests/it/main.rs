//! The integration tests, one module per area, in one test program: the crate and its
//! dependencies are linked once instead of once per file.
//!
//! Run one area with its module path as the filter, e.g. `cargo test --test it cli::`, and
//! the live-tenant test with `cargo test --test it live:: -- --ignored --nocapture`.
//!
//! All tests share this process. A test that changes what the whole process sees (a global
//! tracing subscriber, the umask, environment variables, the working directory) must not do it
//! here: see `no_leaks` for how its tests capture logs and change the umask without touching
//! the other tests.

mod common;

mod auth;
mod browser_sign_in;
#[cfg(all(windows, feature = "pfx"))]
mod cert_store;
#[cfg(feature = "cli")]
mod cli;
mod crash_resume;
mod credentials;
mod fake_graph;
mod fault_matrix;
mod fidelity;
mod fleet;
mod graph_client;
mod hostile_input;
mod live;
mod no_leaks;
mod profiles;
mod races;
mod random_faults;
mod readiness;
mod registration;
mod security;
mod transport_safety;
#[cfg(windows)]
mod windows_files;
