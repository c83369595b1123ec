//! Generated text to stdout as it streams: flushed piece by piece, and a closed pipe
//! (`realizar generate | head`) ends the generation quietly instead of panicking.

use anyhow::Context;
use std::io::{self, IsTerminal, StdoutLock, Write};
use std::ops::ControlFlow;

pub struct StdoutSink {
    out: StdoutLock<'static>,
    error: Option<io::Error>,
}

impl StdoutSink {
    pub fn new() -> Self {
        StdoutSink {
            out: io::stdout().lock(),
            error: None,
        }
    }

    /// Writes and flushes `text`; `Break` once stdout fails.
    pub fn write(&mut self, text: &str) -> ControlFlow<()> {
        if self.error.is_some() {
            return ControlFlow::Break(());
        }
        match self
            .out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
        {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                self.error = Some(error);
                ControlFlow::Break(())
            }
        }
    }

    /// Ends a reply: a newline on a terminal, so the next prompt starts on its own line.
    pub fn end_line_on_terminal(&mut self) {
        if io::stdout().is_terminal() {
            let _ = self.write("\n");
        }
    }

    /// Whether the reader went away (a closed pipe); any other write error is returned.
    pub fn closed(&mut self) -> anyhow::Result<bool> {
        match self.error.take() {
            None => Ok(false),
            Some(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(true),
            Some(error) => Err(error).context("writing to stdout"),
        }
    }
}
