//! The results of a scenario, printed as a table of two columns.

pub struct Report {
    scenario: &'static str,
    rows: Vec<(String, String)>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Report {
        Report {
            scenario,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, metric: impl Into<String>, value: impl Into<String>) {
        self.rows.push((metric.into(), value.into()));
    }

    /// Markdown, so the output can go straight into BENCHMARKS.md.
    pub fn print(reports: &[Report]) {
        println!("| scenario | metric | value |");
        println!("|---|---|---|");
        for report in reports {
            for (metric, value) in &report.rows {
                println!("| {} | {metric} | {value} |", report.scenario);
            }
        }
    }
}

/// Bytes in MiB, for memory figures.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
