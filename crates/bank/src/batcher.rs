//! Group commit: transfer commands from every request in flight are committed together.
//!
//! Handlers hand their commands to one task through a channel. The task takes what is waiting
//! (up to `BATCH_COMMANDS_MAX`), commits it as one transaction through the store, and answers
//! every request. While it commits, new requests queue; they form the next batch. One commit is in
//! flight at a time, so the bank is the single writer of its ledger, which also makes the hold
//! sweeper (run by the same task between batches) safe against a batch that posts the same hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scanpay_core::ledger::{BATCH_COMMANDS_MAX, Decision, TransferCommand};
use scanpay_http::Metrics;
use scanpay_store::{BankStore, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the committer, at most; more wait for room (backpressure).
const QUEUE_JOBS_MAX: usize = 16_384;
/// How often expired holds are swept, and how many a sweep releases at most.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
const SWEEP_HOLDS_MAX: u32 = 1_000;

struct Job {
    commands: Vec<TransferCommand>,
    reply: oneshot::Sender<Result<Vec<Decision>, String>>,
}

#[derive(Clone)]
pub struct Batcher {
    jobs: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the ledger could not commit: {0}")]
    Store(String),
    #[error("the bank is shutting down")]
    Closed,
}

impl Batcher {
    /// Starts the committing task; it ends when every `Batcher` clone is dropped.
    pub fn start<S: BankStore>(
        store: Arc<S>,
        metrics: Arc<Metrics>,
        now_ms: fn() -> i64,
    ) -> Batcher {
        let (jobs, receiver) = mpsc::channel(QUEUE_JOBS_MAX);
        tokio::spawn(run(store, metrics, receiver, now_ms));
        Batcher { jobs }
    }

    /// Decides `commands` (at most `BATCH_COMMANDS_MAX`), in order, in one commit with whatever
    /// else is waiting.
    pub async fn submit(
        &self,
        commands: Vec<TransferCommand>,
    ) -> Result<Vec<Decision>, SubmitError> {
        assert!(commands.len() <= BATCH_COMMANDS_MAX);
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { commands, reply })
            .await
            .map_err(|_| SubmitError::Closed)?;
        match answer.await {
            Ok(Ok(decisions)) => Ok(decisions),
            Ok(Err(error)) => Err(SubmitError::Store(error)),
            Err(_) => Err(SubmitError::Closed),
        }
    }
}

async fn run<S: BankStore>(
    store: Arc<S>,
    metrics: Arc<Metrics>,
    mut receiver: mpsc::Receiver<Job>,
    now_ms: fn() -> i64,
) {
    let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut carried: Option<Job> = None;
    let mut last_sweep = Instant::now();
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => tokio::select! {
                job = receiver.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
                _ = sweep.tick() => {
                    expire_due_holds(&*store, &metrics, now_ms()).await;
                    last_sweep = Instant::now();
                    continue;
                }
            },
        };
        let mut jobs = vec![first];
        let mut size = jobs[0].commands.len();
        while let Ok(job) = receiver.try_recv() {
            if size + job.commands.len() > BATCH_COMMANDS_MAX {
                carried = Some(job);
                break;
            }
            size += job.commands.len();
            jobs.push(job);
        }
        // Under steady load the timer above is never reached: sweep here too, so an expired
        // hold stops reserving money within a second whatever the load.
        if last_sweep.elapsed() >= SWEEP_INTERVAL {
            expire_due_holds(&*store, &metrics, now_ms()).await;
            last_sweep = Instant::now();
        }
        commit(&*store, &metrics, jobs, size, now_ms()).await;
    }
}

async fn expire_due_holds<S: BankStore>(store: &S, metrics: &Metrics, now_ms: i64) {
    match store.expire_holds(now_ms, SWEEP_HOLDS_MAX).await {
        Ok(0) => {}
        Ok(n) => metrics.count("ledger_holds_expired_total", &[], n as u64),
        Err(error) => tracing::warn!(%error, "sweeping expired holds failed"),
    }
}

async fn commit<S: BankStore>(
    store: &S,
    metrics: &Metrics,
    jobs: Vec<Job>,
    size: usize,
    now_ms: i64,
) {
    let mut commands = Vec::with_capacity(size);
    for job in &jobs {
        commands.extend(job.commands.iter().cloned());
    }
    let started = Instant::now();
    let result = store.commit_transfers(now_ms, commands).await;
    metrics.observe("ledger_commit_duration_seconds", &[], started.elapsed());
    metrics.count("ledger_commits_total", &[], 1);
    metrics.count("ledger_commands_total", &[], size as u64);
    match result {
        Ok(decisions) => {
            assert_eq!(decisions.len(), size, "one decision per command");
            let mut decisions = decisions.into_iter();
            for job in jobs {
                let mine: Vec<Decision> = decisions.by_ref().take(job.commands.len()).collect();
                let _ = job.reply.send(Ok(mine));
            }
        }
        Err(error) => {
            tracing::error!(%error, commands = size, "ledger commit failed; nothing of the batch was written");
            let text = match error {
                StoreError::Duplicate(what) => format!("duplicate {what}"),
                StoreError::Database(text) => text,
            };
            for job in jobs {
                let _ = job.reply.send(Err(text.clone()));
            }
        }
    }
}
