//! The exit codes: a contract with the programs that run `appreg` (a leaf, used by the
//! failures and the outputs alike).

/// Exit code: done.
pub const EXIT_OK: u8 = 0;
/// Exit code: any failure other than bad input.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: bad usage or input; nothing was changed.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: registered, but some grants were refused.
pub const EXIT_PARTIAL: u8 = 3;
/// Exit code: registered, but the product cannot sign in with every role yet.
pub const EXIT_NOT_READY: u8 = 4;
