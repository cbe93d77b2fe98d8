//! Gathers the requests of job handlers running at the same time into one batch, so that
//! many jobs share one database round trip. There is no waiting for a batch to fill: a
//! batch is whatever was submitted while the previous one ran, so a lone request goes out
//! at once and a busy queue gets large batches.
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

/// Why a request got no answer of its own. Every request of a failed batch gets the same
/// error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BatchError(Arc<str>);

impl From<BatchError> for sea_orm::DbErr {
    fn from(e: BatchError) -> Self {
        sea_orm::DbErr::Custom(e.to_string())
    }
}

struct Request<In, Out> {
    input: In,
    reply: oneshot::Sender<Result<Out, BatchError>>,
}

/// Runs one batch at a time on a task of its own; the task ends when the last `Batcher`
/// clone is dropped.
pub struct Batcher<In, Out> {
    requests: mpsc::UnboundedSender<Request<In, Out>>,
}

impl<In, Out> Clone for Batcher<In, Out> {
    fn clone(&self) -> Self {
        Self {
            requests: self.requests.clone(),
        }
    }
}

impl<In, Out> std::fmt::Debug for Batcher<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

impl<In: Send + 'static, Out: Send + 'static> Batcher<In, Out> {
    /// Starts the batch task (inside a tokio runtime). `run` gets at most `max` inputs and
    /// answers with one output per input, in the same order.
    pub fn spawn<F, Fut, E>(max: usize, mut run: F) -> Self
    where
        F: FnMut(Vec<In>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<Out>, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let (requests, mut queued) = mpsc::unbounded_channel::<Request<In, Out>>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max);
            while queued.recv_many(&mut batch, max).await > 0 {
                let (inputs, replies): (Vec<In>, Vec<_>) =
                    batch.drain(..).map(|r| (r.input, r.reply)).unzip();
                let asked = inputs.len();
                // On a task of its own, so that a panicking batch fails its requests but
                // not every later one.
                let answers = match tokio::spawn(run(inputs)).await {
                    Ok(Ok(outputs)) if outputs.len() == asked => {
                        outputs.into_iter().map(Ok).collect()
                    }
                    Ok(Ok(outputs)) => {
                        let error = format!("a batch of {asked} got {} answers", outputs.len());
                        failed(asked, error)
                    }
                    Ok(Err(e)) => failed(asked, e.to_string()),
                    Err(panicked) => failed(asked, format!("the batch failed: {panicked}")),
                };
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // The submitter may have gone away (its job was cancelled); nothing to do.
                    let _ = reply.send(answer);
                }
            }
        });
        Self { requests }
    }

    /// Adds `input` to the next batch and waits for its own output.
    pub async fn submit(&self, input: In) -> Result<Out, BatchError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { input, reply })
            .map_err(|_| BatchError("the batch task has stopped".into()))?;
        answer
            .await
            .map_err(|_| BatchError("the batch was abandoned".into()))?
    }
}

fn failed<Out>(n: usize, error: String) -> Vec<Result<Out, BatchError>> {
    let error = BatchError(error.into());
    (0..n).map(|_| Err(error.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn concurrent_submitters_get_their_own_outputs_in_shared_batches() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let doubler = Batcher::spawn(8, move |inputs: Vec<u32>| {
            seen.lock().unwrap().push(inputs.len());
            async move {
                tokio::task::yield_now().await;
                Ok::<_, String>(inputs.into_iter().map(|n| n * 2).collect())
            }
        });
        let answers = futures_util::future::join_all((0..20).map(|n| doubler.submit(n))).await;
        let answers: Vec<u32> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, (0..20).map(|n| n * 2).collect::<Vec<_>>());
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 20);
        assert!(sizes.iter().all(|&n| n <= 8), "{sizes:?}");
        assert!(sizes.len() < 20, "requests were batched: {sizes:?}");
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_requests() {
        let failing = Batcher::spawn(64, |_: Vec<u32>| async { Err::<Vec<u32>, _>("disk full") });
        let answers = futures_util::future::join_all((0..5).map(|n| failing.submit(n))).await;
        for answer in answers {
            assert_eq!(answer.unwrap_err().to_string(), "disk full");
        }
    }

    #[tokio::test]
    async fn a_batch_with_the_wrong_number_of_outputs_fails_its_requests() {
        let short = Batcher::spawn(64, |_: Vec<u32>| async { Ok::<_, String>(vec![1]) });
        let answers = futures_util::future::join_all((0..3).map(|n| short.submit(n))).await;
        assert!(answers.iter().all(Result::is_err), "{answers:?}");
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_requests_and_later_batches_still_run() {
        let picky = Batcher::spawn(64, |inputs: Vec<u32>| async move {
            assert!(!inputs.contains(&13), "unlucky");
            Ok::<_, String>(inputs)
        });
        assert!(picky.submit(13).await.is_err());
        assert_eq!(picky.submit(7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_lone_request_is_answered_without_waiting_for_company() {
        let echo = Batcher::spawn(64, |inputs: Vec<u32>| async { Ok::<_, String>(inputs) });
        let answer = tokio::time::timeout(std::time::Duration::from_secs(1), echo.submit(7)).await;
        assert_eq!(answer.unwrap().unwrap(), 7);
    }
}
