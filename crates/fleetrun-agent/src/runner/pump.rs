//! Masked output: copies a step's stdout and stderr from pipes into the step's output files through a
//! [`Masker`], so that the files only ever hold masked bytes.
//!
//! Used only for steps with secret environment values ([`super::RunSpec::secret_env`]); every other
//! step writes straight to its files. One tokio task per stream reads the pipe into a fixed buffer,
//! masks and appends to the file; memory stays bounded (the buffer, the masker's hold-back of less
//! than the longest secret, one pending file write), and a slow disk slows the script down through the
//! pipe rather than growing a queue. This module does not decide when a step ends: `Running::wait`
//! calls [`Pumps::finish`] once the wrapper is gone.
//!
//! A process that leaves the step behind (a background child still running when the wrapper exits, or
//! one that escaped the process group) may hold a pipe open. After [`OUTPUT_DRAIN`] the pump stops
//! writing to the file, drops its masker and goes on reading and discarding until the last writer is
//! gone, so that such a process is not killed by `SIGPIPE` for writing to a pipe nobody reads.

use std::fs::File;
use std::io::ErrorKind;
use std::time::Duration;

use fleetrun_core::mask::Masker;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

/// How long [`Pumps::finish`] waits for the pipes to close once the wrapper is gone. Without
/// background processes holding them, they close at once.
pub(super) const OUTPUT_DRAIN: Duration = Duration::from_secs(1);
/// How long a pump told to stop may take to write its last masked bytes.
const SETTLE_SLACK: Duration = Duration::from_secs(2);
/// Read size. The pipe itself buffers 64 KiB on Linux.
const CHUNK: usize = 16 * 1024;

/// The two pumps of a masked step.
#[derive(Debug)]
pub(super) struct Pumps {
    stdout: Pump,
    stderr: Pump,
}

#[derive(Debug)]
struct Pump {
    stream: &'static str,
    /// Resolves when the pump has written everything it will ever write to its file (or has died).
    written: oneshot::Receiver<()>,
    /// Asks the pump to write what it holds and stop writing to the file.
    settle: CancellationToken,
}

impl Pumps {
    /// Starts one pump per stream; each gets its own masker for `secrets`. Must run inside a tokio
    /// runtime.
    pub(super) fn start<I>(stdout: (ChildStdout, File), stderr: (ChildStderr, File), secrets: I) -> Pumps
    where
        I: IntoIterator + Clone,
        I::Item: AsRef<[u8]>,
    {
        Pumps {
            stdout: Pump::start("stdout", stdout.0, stdout.1, Masker::new(secrets.clone())),
            stderr: Pump::start("stderr", stderr.0, stderr.1, Masker::new(secrets)),
        }
    }

    /// Waits until both files are complete: at the pipes' end, or at most [`OUTPUT_DRAIN`] (plus the
    /// time to write the held-back bytes) when something still holds a pipe open.
    pub(super) async fn finish(self) {
        let deadline = Instant::now() + OUTPUT_DRAIN;
        self.stdout.finish(deadline).await;
        self.stderr.finish(deadline).await;
    }
}

impl Pump {
    fn start<R>(stream: &'static str, pipe: R, file: File, masker: Masker) -> Pump
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let (done, written) = oneshot::channel();
        let settle = CancellationToken::new();
        tokio::spawn(run(stream, pipe, tokio::fs::File::from_std(file), masker, settle.clone(), done));
        Pump { stream, written, settle }
    }

    async fn finish(mut self, deadline: Instant) {
        if tokio::time::timeout_at(deadline, &mut self.written).await.is_ok() {
            return;
        }
        tracing::warn!(
            stream = self.stream,
            "A process still holds the step's output open after the step ended; later output is discarded."
        );
        self.settle.cancel();
        if tokio::time::timeout(SETTLE_SLACK, self.written).await.is_err() {
            tracing::warn!(stream = self.stream, "Writing the step's masked output did not finish in time.");
        }
    }
}

/// The pump task. Signals `done` once the file is complete; after a settle it then keeps draining
/// the pipe into nothing.
async fn run<R>(
    stream: &'static str,
    mut pipe: R,
    file: tokio::fs::File,
    mut masker: Masker,
    settle: CancellationToken,
    done: oneshot::Sender<()>,
) where
    R: AsyncRead + Unpin,
{
    // Clear bytes pass through this buffer, so it is wiped when dropped.
    let mut buffer = Zeroizing::new(vec![0u8; CHUNK]);
    let mut sink = Sink { stream, file: Some(file) };
    let mut settled = false;
    loop {
        let read = tokio::select! {
            biased;
            () = settle.cancelled() => {
                settled = true;
                break;
            }
            read = pipe.read(&mut buffer[..]) => read,
        };
        match read {
            Ok(0) => break,
            Ok(n) => {
                let masked = masker.push(&buffer[..n]);
                sink.write(&masked).await;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::warn!(stream, %error, "Reading the step's output failed.");
                break;
            }
        }
    }
    sink.write(&masker.finish()).await;
    sink.close().await;
    let _ = done.send(());
    if settled {
        while let Ok(n) = pipe.read(&mut buffer[..]).await
            && n > 0
        {}
    }
}

/// The output file; after a write error it swallows the rest, so that the script never blocks on a
/// pipe the pump stopped reading.
struct Sink {
    stream: &'static str,
    file: Option<tokio::fs::File>,
}

impl Sink {
    async fn write(&mut self, bytes: &[u8]) {
        let Some(file) = &mut self.file else { return };
        if bytes.is_empty() {
            return;
        }
        if let Err(error) = file.write_all(bytes).await {
            tracing::warn!(stream = self.stream, %error, "Writing the step's output file failed; the rest is lost.");
            self.file = None;
        }
    }

    /// Waits for the last write to reach the file, so that a reader that starts after `done` sees it.
    async fn close(&mut self) {
        if let Some(mut file) = self.file.take()
            && let Err(error) = file.flush().await
        {
            tracing::warn!(stream = self.stream, %error, "Writing the step's output file failed.");
        }
    }
}
