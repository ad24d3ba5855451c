//! Notices from the database (LISTEN/NOTIFY): how nodes learn at once of
//! a change another node made (kills, deploys), on a connection of its own.

use super::Postgres;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runs `work` on a thread called `name` on every notice on `channel`, on
/// every (re)connect of the listener, and at least every `every` — a
/// safety net for a notice lost with its connection — until `stopping` is
/// set or `work` returns `false`. Each node's kill watcher and registry
/// follower are this loop.
///
/// # Errors
/// The thread cannot be started.
pub fn on_notice(
    pg: &Arc<Postgres>,
    channel: &'static str,
    name: &str,
    every: Duration,
    stopping: Arc<AtomicBool>,
    mut work: impl FnMut() -> bool + Send + 'static,
) -> std::io::Result<()> {
    let woken = listen(pg, channel);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                if woken.recv_timeout(every) == Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
                {
                    // The listener is gone (the pool is shutting down): poll.
                    std::thread::sleep(every);
                }
                if stopping.load(Ordering::SeqCst) || !work() {
                    break;
                }
            }
        })
        .map(drop)
}

/// Wakes the returned receiver whenever what `channel` announces may have
/// changed: on every notice on it, and whenever the listening connection
/// is (re)established (a notice may have been missed). The listener runs on
/// the pool's runtime, reconnecting a second after it loses the server; it
/// ends once the receiver is gone and it next has something to say.
pub fn listen(pg: &Arc<Postgres>, channel: &'static str) -> std::sync::mpsc::Receiver<()> {
    let (wake, woken) = std::sync::mpsc::channel();
    let config = pg.config().clone();
    pg.spawn(async move {
        loop {
            if let Ok((client, mut connection)) = config.connect(tokio_postgres::NoTls).await {
                let (notices, mut noticed) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    while let Some(message) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        match message {
                            Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                                let _ = notices.send(());
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {channel}"))
                    .await
                    .is_ok()
                {
                    // Listening from here on: what changed before is read now.
                    if wake.send(()).is_err() {
                        return;
                    }
                    while noticed.recv().await.is_some() {
                        if wake.send(()).is_err() {
                            return;
                        }
                    }
                }
                driver.abort();
            }
            if wake.send(()).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    woken
}
