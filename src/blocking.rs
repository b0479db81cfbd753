//! Blocking work off the async runtime's worker threads.

use crate::error::{Error, Result};

/// Runs `work` — file I/O that ends in `fsync`, RSA key generation — where it cannot hold up
/// other tasks: on tokio's blocking pool when a tokio runtime is running (a `Fleet` runs many
/// tenants on one task, and each blocked worker stalls them all), inline otherwise. A panic in
/// `work` is resumed here.
pub(crate) async fn run<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return work();
    };
    match handle.spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => Err(Error::io(
                "finish blocking work: the async runtime is shutting down",
                std::path::PathBuf::new(),
                std::io::Error::from(std::io::ErrorKind::Interrupted),
            )),
        },
    }
}
