//! The statistics a calibration reports: 95 % intervals for a proportion (Wilson), for a
//! Poisson rate (exact, from χ² quantiles) and for the two parameters of a log-normal
//! fitted on the logs (Student t for μ, χ² for σ). statrs gives the quantiles.

use statrs::distribution::{ChiSquared, ContinuousCDF, StudentsT};

/// Two-sided confidence of every interval here.
pub const CONFIDENCE: f64 = 0.95;

/// z for a two-sided 95 % interval.
const Z: f64 = 1.959_963_984_540_054;

/// A closed interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl Interval {
    /// Whether `x` lies inside (ends included).
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// The interval of `f(x)` for an increasing `f`.
    pub fn map(self, f: impl Fn(f64) -> f64) -> Interval {
        Interval {
            low: f(self.low),
            high: f(self.high),
        }
    }
}

/// `k` events in `n` trials: the estimate and its Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proportion {
    /// Events.
    pub k: u64,
    /// Trials.
    pub n: u64,
    /// `k / n` (0 for no trials).
    pub estimate: f64,
    /// The 95 % Wilson interval ([0, 1] for no trials). With `k = 0` its upper end is
    /// what to report: zero events in a few trials is no proof of zero.
    pub interval: Interval,
}

impl Proportion {
    /// `k` of `n`.
    pub fn new(k: u64, n: u64) -> Proportion {
        assert!(k <= n, "{k} events in {n} trials");
        if n == 0 {
            return Proportion {
                k,
                n,
                estimate: 0.0,
                interval: Interval {
                    low: 0.0,
                    high: 1.0,
                },
            };
        }
        let (kf, nf) = (k as f64, n as f64);
        let p = kf / nf;
        let z2 = Z * Z;
        let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
        let half = Z / (1.0 + z2 / nf) * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
        Proportion {
            k,
            n,
            estimate: p,
            interval: Interval {
                low: if k == 0 {
                    0.0
                } else {
                    (centre - half).max(0.0)
                },
                high: if k == n {
                    1.0
                } else {
                    (centre + half).min(1.0)
                },
            },
        }
    }
}

/// `events` in `exposure` units of time: the rate and its exact 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Events seen.
    pub events: u64,
    /// Exposure (agent-hours for agent losses).
    pub exposure: f64,
    /// `events / exposure` (0 without exposure).
    pub estimate: f64,
    /// The exact (Garwood) interval; with no events its upper end is what to report.
    pub interval: Interval,
}

impl Rate {
    /// `events` over `exposure` (> 0).
    pub fn new(events: u64, exposure: f64) -> Rate {
        let alpha = 1.0 - CONFIDENCE;
        if exposure <= 0.0 {
            return Rate {
                events,
                exposure,
                estimate: 0.0,
                interval: Interval {
                    low: 0.0,
                    high: f64::INFINITY,
                },
            };
        }
        let chi = |p: f64, dof: f64| {
            ChiSquared::new(dof)
                .expect("positive degrees of freedom")
                .inverse_cdf(p)
        };
        let k = events as f64;
        let low = if events == 0 {
            0.0
        } else {
            chi(alpha / 2.0, 2.0 * k) / 2.0
        };
        let high = chi(1.0 - alpha / 2.0, 2.0 * k + 2.0) / 2.0;
        Rate {
            events,
            exposure,
            estimate: k / exposure,
            interval: Interval {
                low: low / exposure,
                high: high / exposure,
            },
        }
    }
}

/// A log-normal fitted on the logs of positive samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogFit {
    /// Samples.
    pub n: usize,
    /// Mean of the logs.
    pub mu: f64,
    /// Sample standard deviation of the logs (0 for one sample).
    pub sigma: f64,
    /// 95 % interval of μ (Student t; unbounded for one sample).
    pub mu_interval: Interval,
    /// 95 % interval of σ (χ²; unbounded above for one sample).
    pub sigma_interval: Interval,
}

impl LogFit {
    /// The fit of `samples` (each > 0), or `None` for none.
    pub fn of(samples: &[f64]) -> Option<LogFit> {
        assert!(
            samples.iter().all(|x| *x > 0.0),
            "log-normal samples are positive"
        );
        let n = samples.len();
        if n == 0 {
            return None;
        }
        let logs: Vec<f64> = samples.iter().map(|x| x.ln()).collect();
        let mu = logs.iter().sum::<f64>() / n as f64;
        if n == 1 {
            let everything = Interval {
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
            };
            return Some(LogFit {
                n,
                mu,
                sigma: 0.0,
                mu_interval: everything,
                sigma_interval: Interval {
                    low: 0.0,
                    high: f64::INFINITY,
                },
            });
        }
        let dof = (n - 1) as f64;
        let ss: f64 = logs.iter().map(|l| (l - mu) * (l - mu)).sum();
        let sigma = (ss / dof).sqrt();
        let alpha = 1.0 - CONFIDENCE;
        let t = StudentsT::new(0.0, 1.0, dof)
            .expect("positive degrees of freedom")
            .inverse_cdf(1.0 - alpha / 2.0);
        let half = t * sigma / (n as f64).sqrt();
        let chi = ChiSquared::new(dof).expect("positive degrees of freedom");
        Some(LogFit {
            n,
            mu,
            sigma,
            mu_interval: Interval {
                low: mu - half,
                high: mu + half,
            },
            sigma_interval: Interval {
                low: (ss / chi.inverse_cdf(1.0 - alpha / 2.0)).sqrt(),
                high: (ss / chi.inverse_cdf(alpha / 2.0)).sqrt(),
            },
        })
    }

    /// The median factor, e^μ.
    pub fn median(&self) -> f64 {
        self.mu.exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_matches_published_values_and_zero_failures_give_an_upper_bound() {
        // 1 in 10: Wilson 95 % is [0.0179, 0.4042] (Newcombe 1998, table I).
        let p = Proportion::new(1, 10);
        assert!(close(p.interval.low, 0.0179, 1e-4), "{p:?}");
        assert!(close(p.interval.high, 0.4042, 1e-4), "{p:?}");
        // 0 in 10: the estimate is 0, but the upper end is 0.2775, not 0.
        let zero = Proportion::new(0, 10);
        assert_eq!(zero.estimate, 0.0);
        assert_eq!(zero.interval.low, 0.0);
        assert!(close(zero.interval.high, 0.2775, 1e-4), "{zero:?}");
        assert_eq!(Proportion::new(10, 10).interval.high, 1.0);
        assert_eq!(Proportion::new(0, 0).interval.high, 1.0);
    }

    #[test]
    fn poisson_intervals_are_the_exact_garwood_ones() {
        // 0 events: upper 3.689 (the "rule of three" and a bit); 5 events: [1.623, 11.668].
        let none = Rate::new(0, 1.0);
        assert!(close(none.interval.high, 3.6889, 1e-3), "{none:?}");
        let five = Rate::new(5, 2.0);
        assert!(close(five.estimate, 2.5, 1e-12));
        assert!(close(five.interval.low, 1.6235 / 2.0, 1e-3), "{five:?}");
        assert!(close(five.interval.high, 11.6683 / 2.0, 1e-3), "{five:?}");
    }

    #[test]
    fn a_log_normal_fit_recovers_its_parameters_with_sensible_intervals() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, LogNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let d = LogNormal::new(0.2, 0.3).unwrap();
        let samples: Vec<f64> = (0..400).map(|_| d.sample(&mut rng)).collect();
        let fit = LogFit::of(&samples).unwrap();
        assert!(fit.mu_interval.contains(0.2), "{fit:?}");
        assert!(fit.sigma_interval.contains(0.3), "{fit:?}");
        assert!(fit.mu_interval.high - fit.mu_interval.low < 0.07, "{fit:?}");
        // Textbook check: logs {0, ln 2, ln 4}: μ = ln 2, s = ln 2.
        let small = LogFit::of(&[1.0, 2.0, 4.0]).unwrap();
        assert!(close(small.mu, 2f64.ln(), 1e-12) && close(small.sigma, 2f64.ln(), 1e-12));
        // t(0.975, 2) = 4.3027.
        let half = 4.302_652_7 * 2f64.ln() / 3f64.sqrt();
        assert!(
            close(small.mu_interval.high - small.mu, half, 1e-5),
            "{small:?}"
        );
        assert!(LogFit::of(&[]).is_none());
        assert_eq!(LogFit::of(&[2.0]).unwrap().sigma, 0.0);
    }
}
