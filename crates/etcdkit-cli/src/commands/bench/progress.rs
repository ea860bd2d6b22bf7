//! A progress bar on stderr, drawn only when stderr is a terminal (a log file or a pipe
//! gets nothing, and stdout, which holds the report, is never touched).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

/// How often the bar is redrawn: often enough to look alive, rarely enough to cost nothing.
const REDRAW: Duration = Duration::from_millis(200);
/// The bar's width in characters.
const WIDTH: usize = 40;

/// What the workers tick: a shared counter when a bar is drawn, nothing otherwise (so that
/// a run without a terminal does not even pay for the atomic add).
#[derive(Debug, Clone, Default)]
pub struct Ticker(Option<Arc<AtomicU64>>);

impl Ticker {
    /// Counts one finished operation.
    pub fn tick(&self) {
        if let Some(done) = &self.0 {
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A running progress bar; [`finish`](Progress::finish) it to draw the last state and end
/// the line. **Drop**: stops redrawing (the line is left as it was).
#[derive(Debug)]
pub struct Progress {
    ticker: Ticker,
    drawer: Option<(JoinHandle<()>, String, u64)>,
}

impl Progress {
    /// A bar for `total` operations labelled `label`, if stderr is a terminal.
    pub fn start(label: &str, total: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                ticker: Ticker::default(),
                drawer: None,
            };
        }
        let done = Arc::new(AtomicU64::new(0));
        let (counter, owned) = (done.clone(), label.to_owned());
        let drawer = tokio::spawn(async move {
            let mut every = tokio::time::interval(REDRAW);
            loop {
                every.tick().await;
                draw(&owned, counter.load(Ordering::Relaxed), total, false);
            }
        });
        Progress {
            ticker: Ticker(Some(done)),
            drawer: Some((drawer, label.to_owned(), total)),
        }
    }

    /// The handle workers tick.
    pub fn ticker(&self) -> Ticker {
        self.ticker.clone()
    }

    /// Stops redrawing, draws the final count and ends the line.
    pub fn finish(mut self) {
        if let (Some((drawer, label, total)), Some(done)) = (self.drawer.take(), &self.ticker.0) {
            drawer.abort();
            draw(&label, done.load(Ordering::Relaxed), total, true);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((drawer, _, _)) = &self.drawer {
            drawer.abort();
        }
    }
}

/// Draws one state of the bar over the previous one.
fn draw(label: &str, done: u64, total: u64, last: bool) {
    let end = if last { "\n" } else { "" };
    let mut err = std::io::stderr().lock();
    // A failed write to the terminal is no reason to stop a benchmark.
    let _ = write!(err, "\r{}{end}", line(label, done, total));
    let _ = err.flush();
}

/// `label [#####-----] done/total pct%`
fn line(label: &str, done: u64, total: u64) -> String {
    let done = done.min(total);
    let filled = done
        .saturating_mul(WIDTH as u64)
        .checked_div(total)
        .and_then(|f| usize::try_from(f).ok())
        .unwrap_or(WIDTH);
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    format!(
        "{label} [{}{}] {done}/{total} {pct:>3}%",
        "#".repeat(filled),
        "-".repeat(WIDTH.saturating_sub(filled))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_in_proportion() {
        let empty = format!("put [{}] 0/200   0%", "-".repeat(40));
        assert_eq!(line("put", 0, 200), empty);
        let half = format!("put [{}{}] 100/200  50%", "#".repeat(20), "-".repeat(20));
        assert_eq!(line("put", 100, 200), half);
        let full = format!("put [{}] 200/200 100%", "#".repeat(40));
        assert_eq!(line("put", 200, 200), full);
        // More ticks than the total (a watcher's extra events) do not overflow the bar.
        assert_eq!(line("put", 300, 200), full);
    }

    #[test]
    fn ticker_without_a_bar_does_nothing() {
        Ticker::default().tick();
    }
}
