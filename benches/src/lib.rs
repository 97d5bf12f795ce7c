//! Benchmarks live in `benches/`; run them from the repository root
//! with `cargo bench --manifest-path benches/Cargo.toml` (`just bench`).

/// The runs of a paired comparison (fibrio against a peer, run after run,
/// the two sides alternating): each side's time per operation and their
/// ratio, sorted once all runs are in.
///
/// # Examples
///
/// ```
/// let mut runs = fibrio_benches::PairedRuns::default();
/// for (ours, theirs) in [(2.0, 4.0), (3.0, 4.0), (1.0, 4.0)] {
///     runs.push(ours, theirs);
/// }
/// let summary = runs.summary();
/// assert_eq!(summary.median, 0.5);
/// assert_eq!(summary.ours[0], 1.0); // the fastest run
/// ```
#[derive(Debug, Default)]
pub struct PairedRuns {
    ours: Vec<f64>,
    theirs: Vec<f64>,
    ratios: Vec<f64>,
}

/// The sorted runs and the ratio's quartiles, from [`PairedRuns::summary`].
#[derive(Debug)]
pub struct PairedSummary {
    /// fibrio's time per operation in each run, fastest first.
    pub ours: Vec<f64>,
    /// The peer's, fastest first.
    pub theirs: Vec<f64>,
    /// The first quartile of the per-run ratios fibrio / peer.
    pub q1: f64,
    /// Their median.
    pub median: f64,
    /// Their third quartile.
    pub q3: f64,
}

impl PairedRuns {
    /// Records one run of each side.
    pub fn push(&mut self, ours: f64, theirs: f64) {
        self.ours.push(ours);
        self.theirs.push(theirs);
        self.ratios.push(ours / theirs);
    }

    /// Sorts the runs and takes the ratio's quartiles.
    ///
    /// # Panics
    ///
    /// If no run was recorded.
    pub fn summary(mut self) -> PairedSummary {
        assert!(!self.ratios.is_empty(), "no paired run was recorded");
        for runs in [&mut self.ours, &mut self.theirs, &mut self.ratios] {
            runs.sort_by(f64::total_cmp);
        }
        let n = self.ratios.len();
        PairedSummary {
            q1: self.ratios[n / 4],
            median: self.ratios[n / 2],
            q3: self.ratios[n * 3 / 4],
            ours: self.ours,
            theirs: self.theirs,
        }
    }
}

impl PairedSummary {
    /// fibrio's median run.
    pub fn ours_median(&self) -> f64 {
        self.ours[self.ours.len() / 2]
    }

    /// The peer's median run.
    pub fn theirs_median(&self) -> f64 {
        self.theirs[self.theirs.len() / 2]
    }
}
