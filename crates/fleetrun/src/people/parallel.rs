//! `bounded`: run many independent client calls with a fixed number in flight, keeping their order.
//!
//! Used where one call per node or per group cannot be avoided (confirming large outputs, fetching each
//! group's output, reading each node's tags). It is not a scheduler: no retries and no rate limits.

use std::future::Future;
use tokio::task::JoinSet;

/// Calls in flight at once: enough to hide round trips, few enough not to crowd out the agents.
const PARALLEL_CALLS: usize = 16;

/// Runs `work` on every item with at most `PARALLEL_CALLS` in flight, and returns the results in the
/// items' order. The first error wins; dropping the `JoinSet` then cancels the rest.
pub(super) async fn bounded<I, T, Fut>(items: Vec<I>, work: impl Fn(I) -> Fut) -> anyhow::Result<Vec<T>>
where
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut results: Vec<Option<T>> = Vec::new();
    results.resize_with(items.len(), || None);
    let mut tasks = JoinSet::new();
    for (idx, item) in items.into_iter().enumerate() {
        if tasks.len() >= PARALLEL_CALLS
            && let Some(joined) = tasks.join_next().await
        {
            let (done, result): (usize, anyhow::Result<T>) = joined?;
            results[done] = Some(result?);
        }
        let future = work(item);
        tasks.spawn(async move { (idx, future.await) });
    }
    while let Some(joined) = tasks.join_next().await {
        let (done, result) = joined?;
        results[done] = Some(result?);
    }
    Ok(results.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_keeps_order_and_reports_errors() {
        let doubled = bounded((0..40).collect(), |n: u64| async move {
            tokio::time::sleep(std::time::Duration::from_millis(40 - n)).await;
            Ok(n * 2)
        })
        .await
        .unwrap();
        assert_eq!(doubled, (0..40).map(|n| n * 2).collect::<Vec<_>>());
        let failed = bounded(vec![1, 2, 3], |n: u32| async move {
            anyhow::ensure!(n != 2, "two");
            Ok(n)
        })
        .await;
        assert_eq!(failed.unwrap_err().to_string(), "two");
    }
}
