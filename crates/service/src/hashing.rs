//! Password hashing on a fixed pool of threads, one per core, behind a short queue.
//!
//! Each Argon2id hash takes ~19 MiB and tens of milliseconds of a core. Run on tokio's
//! blocking pool, every concurrent login got a thread of its own: wrong passwords sent in
//! parallel took the machine's memory (each thread's allocator arena kept its 19 MiB) and the
//! latency of every login with it. Here at most one hash runs per core, at most
//! [`QUEUE_PER_THREAD`] per core wait, and beyond that a request is refused at once with 503
//! and `Retry-After`: memory stays flat whatever the load.

use tokio::sync::{mpsc, oneshot};

use crate::{Result, ServiceError};

/// Hashes waiting per hashing thread before requests are refused, by default.
pub const QUEUE_PER_THREAD: usize = 16;

type Job = Box<dyn FnOnce() + Send>;

/// The pool: its threads end when it is dropped (the channel closes).
pub(crate) struct Hashing {
    jobs: mpsc::Sender<Job>,
}

impl Hashing {
    /// One thread per core; `queue` hashes may wait (0: [`QUEUE_PER_THREAD`] per thread).
    pub fn new(queue: usize) -> Self {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let queue = if queue == 0 { threads * QUEUE_PER_THREAD } else { queue };
        let (jobs, rx) = mpsc::channel::<Job>(queue);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("stratus-hash-{i}")).spawn(move || {
                loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).blocking_recv();
                    match job {
                        // A job that panics must not take its thread with it.
                        Some(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                        None => return,
                    }
                }
            });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password-hashing thread");
            }
        }
        Self { jobs }
    }

    /// Runs `work` on a hashing thread; 503 when the queue is full.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.try_send(job).map_err(|_| ServiceError::Unavailable {
            code: "server_busy",
            message: "too many sign-ins at once; try again in a moment".into(),
            retry_after: 1,
        })?;
        result.await.map_err(ServiceError::internal)
    }
}
