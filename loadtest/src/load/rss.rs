//! Memory of the processes under test, sampled from `/proc/PID/status` while the load runs.
//!
//! A gateway that leaks per stream, or buffers whole answers, shows up as RSS that climbs
//! with the number of open streams and does not come back down when they end; start, peak
//! and end of the run tell those apart. Sampling runs on its own OS thread so the generator
//! threads never block on file reads, and a process that exits mid-run is reported rather
//! than failing the run: the load numbers up to that point are still worth having.

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often each process is sampled: fine enough to see a ramp of thousands of streams,
/// coarse enough to cost nothing.
const INTERVAL: Duration = Duration::from_millis(100);

/// What one process's memory did during a run (kilobytes, as the kernel reports them).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RssTrack {
    pub pid: u32,
    /// Before the first request.
    pub start_kb: Option<u64>,
    /// Highest RSS seen during the run (see [`Tracker::peak`]).
    pub peak_kb: Option<u64>,
    /// After the last answer.
    pub end_kb: Option<u64>,
    /// Successful reads of the process's status.
    pub samples: u64,
    /// Why figures are missing: the process was not there, exited, or could not be read.
    pub note: Option<String>,
}

/// VmRSS and VmHWM of a `/proc/PID/status` text, in kB; `None` when either is absent
/// (kernel threads and zombies have no memory figures).
pub(crate) fn parse_status(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Why a process could not be sampled.
enum Missing {
    /// No such process, or a zombie: it exited.
    Gone,
    Unreadable(io::Error),
}

fn read(pid: u32) -> Result<(u64, u64), Missing> {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(text) => parse_status(&text).ok_or(Missing::Gone),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Missing::Gone),
        Err(e) => Err(Missing::Unreadable(e)),
    }
}

/// Peak RSS (VmHWM) of this very process, in kB: the generator's own footprint.
pub(crate) fn own_peak_kb() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| parse_status(&t))
        .map(|(_, hwm)| hwm)
}

struct Tracker {
    track: RssTrack,
    /// VmHWM at the first sample and at the latest one.
    hwm_first: Option<u64>,
    hwm_last: Option<u64>,
    stopped: bool,
}

impl Tracker {
    fn new(pid: u32) -> Tracker {
        Tracker {
            track: RssTrack {
                pid,
                ..RssTrack::default()
            },
            hwm_first: None,
            hwm_last: None,
            stopped: false,
        }
    }

    /// Takes one sample; once the process is gone it stays gone (pids get reused, and a
    /// stranger's memory would be worse than none).
    fn sample(&mut self) -> Option<u64> {
        if self.stopped {
            return None;
        }
        let pid = self.track.pid;
        match read(pid) {
            Ok((rss, hwm)) => {
                self.track.samples += 1;
                self.track.peak_kb = Some(self.track.peak_kb.map_or(rss, |p| p.max(rss)));
                self.hwm_first.get_or_insert(hwm);
                self.hwm_last = Some(hwm);
                Some(rss)
            }
            Err(missing) => {
                self.stopped = true;
                self.track.note = Some(match (missing, self.track.samples) {
                    (Missing::Gone, 0) => format!("process {pid} not found at start"),
                    (Missing::Gone, n) => {
                        format!("process {pid} exited during the run (after {n} samples)")
                    }
                    (Missing::Unreadable(e), _) => format!("cannot read /proc/{pid}/status: {e}"),
                });
                None
            }
        }
    }

    /// The peak: the highest sample, or VmHWM if the kernel's own high-water mark rose
    /// during the run. A rise means the new record was set while we watched, and VmHWM
    /// catches spikes shorter than the sampling interval.
    fn finish(mut self) -> RssTrack {
        if let (Some(first), Some(last)) = (self.hwm_first, self.hwm_last) {
            if last > first {
                self.track.peak_kb = Some(self.track.peak_kb.map_or(last, |p| p.max(last)));
            }
        }
        self.track
    }
}

/// Watches a set of processes (one slot per target; `None` slots are not watched) from
/// [`RssWatch::start`] to [`RssWatch::finish`].
pub(crate) struct RssWatch {
    slots: Vec<bool>,
    /// Dropping it (or sending) ends the sampling thread.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Vec<RssTrack>>>,
}

impl RssWatch {
    /// Takes the start sample of every process right away (so it precedes the first
    /// request), then samples every [`INTERVAL`] on a thread of its own.
    pub fn start(pids: &[Option<u32>]) -> anyhow::Result<RssWatch> {
        let slots = pids.iter().map(Option::is_some).collect();
        let mut trackers: Vec<Tracker> = pids.iter().flatten().map(|p| Tracker::new(*p)).collect();
        if trackers.is_empty() {
            return Ok(RssWatch {
                slots,
                stop: None,
                thread: None,
            });
        }
        for t in &mut trackers {
            t.track.start_kb = t.sample();
        }
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("load-rss".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(INTERVAL) {
                    for t in &mut trackers {
                        t.sample();
                    }
                }
                for t in &mut trackers {
                    t.track.end_kb = t.sample();
                }
                trackers.into_iter().map(Tracker::finish).collect()
            })
            .map_err(|e| anyhow::anyhow!("cannot spawn RSS sampling thread: {e}"))?;
        Ok(RssWatch {
            slots,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Takes the end sample and returns one entry per slot given to [`RssWatch::start`].
    pub fn finish(mut self) -> Vec<Option<RssTrack>> {
        drop(self.stop.take());
        let mut tracks = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(tracks)) => tracks.into_iter(),
            // The sampler only reads files; should it ever panic, report no figures
            // rather than lose the load results.
            Some(Err(_)) | None => Vec::new().into_iter(),
        };
        self.slots
            .iter()
            .map(|watched| if *watched { tracks.next() } else { None })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        let text = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    4321 kB\nVmRSS:\t    1234 kB\n";
        assert_eq!(parse_status(text), Some((1234, 4321)));
        assert_eq!(parse_status("Name:\tkthreadd\nState:\tS\n"), None);
    }

    #[test]
    fn watches_itself_and_reports_missing_processes() {
        // u32::MAX is above any pid_max, so that process never exists.
        let watch = RssWatch::start(&[Some(std::process::id()), None, Some(u32::MAX)]).unwrap();
        std::thread::sleep(INTERVAL * 2);
        let tracks = watch.finish();
        assert_eq!(tracks.len(), 3);
        let me = tracks[0].as_ref().unwrap();
        assert!(me.start_kb.unwrap() > 0);
        assert!(me.end_kb.unwrap() > 0);
        assert!(me.peak_kb.unwrap() >= me.start_kb.unwrap());
        assert!(me.samples >= 3, "{me:?}");
        assert!(me.note.is_none());
        assert!(tracks[1].is_none());
        let gone = tracks[2].as_ref().unwrap();
        assert_eq!(gone.start_kb, None);
        assert_eq!(gone.samples, 0);
        assert!(gone.note.as_deref().unwrap().contains("not found at start"));
        assert!(own_peak_kb().unwrap() > 0);
    }
}
