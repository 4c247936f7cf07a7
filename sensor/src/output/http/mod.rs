//! The HTTP output: batches of lines POSTed to a SIEM (Elasticsearch/OpenSearch `_bulk`, Splunk
//! HEC) from the output's own thread, through a disk spool ([`spool`]).
//!
//! The pipeline only appends to the spool (a local file write); the sender thread takes sealed
//! segments oldest first and POSTs each as one request. A 2xx acknowledges it (for `_bulk`, item
//! by item: items answered 429 or 5xx are sent again). Connection errors, timeouts, 3xx, 401,
//! 403, 404, 408, 429 and 5xx are retried with exponential backoff (`retry_initial_ms` doubling
//! to `retry_max_seconds`, with jitter) for as long as it takes, the spool keeping everything
//! meanwhile; 400, 413 and 422 mean the receiver will never take the batch, which is moved to
//! `rejected/`. Delivery is at-least-once: a batch whose answer was lost is sent again
//! (Elasticsearch recognises the copies by `_id`; Splunk consumers dedupe on `event.id`).

pub mod body;
pub mod spool;

use std::{
    io,
    path::Path,
    sync::Arc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use self::spool::{Limits, Next, Spool, SpoolError};
use super::{
    config::{HttpConfig, HttpFormat},
    stats::Counters,
    throttled,
};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("cannot read the CA certificates {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("cannot start the output's thread: {0}")]
    Thread(io::Error),
}

/// The pipeline's end of an HTTP output.
pub struct HttpSink {
    name: String,
    config_url: String,
    spool: Arc<Spool>,
    thread: Option<JoinHandle<()>>,
    shutdown_timeout: Duration,
    close_deadline: Option<Instant>,
}

/// How long past its shutdown deadline the sender is waited for (it stops at the deadline, but a
/// request under way ends only at its own timeout).
const CLOSE_GRACE: Duration = Duration::from_millis(500);

impl HttpSink {
    /// Opens the spool in `spool_dir` (sending what an earlier run left there first) and starts
    /// the sender thread.
    pub fn start(
        name: &str,
        config: &HttpConfig,
        spool_dir: &Path,
        counters: Arc<Counters>,
    ) -> Result<Self, HttpError> {
        let agent = agent(config)?;
        let limits = Limits {
            max_bytes: config.spool_max_bytes,
            batch_max_lines: config.batch_max_events,
            batch_max_bytes: config.batch_max_bytes,
            batch_max_wait: config.batch_max_wait,
        };
        let spool = Arc::new(Spool::open(name, spool_dir, limits, counters.clone())?);
        let sender = Sender {
            name: name.to_string(),
            config: config.clone(),
            agent,
            spool: spool.clone(),
            counters,
            failures: 0,
            max_request_bytes: None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("http-{name}"))
            .spawn(move || sender.run())
            .map_err(HttpError::Thread)?;
        tracing::info!(
            output = %name,
            url = %config.url,
            format = config.format.as_str(),
            spool = %spool_dir.display(),
            "http output started"
        );
        Ok(Self {
            name: name.to_string(),
            config_url: config.url.clone(),
            spool,
            thread: Some(thread),
            shutdown_timeout: config.shutdown_timeout,
            close_deadline: None,
        })
    }

    /// Spools one line (a local write; never waits for the network).
    pub fn write(&mut self, json: &[u8]) -> bool {
        self.spool.append(json)
    }

    /// Writes the open segment out; seals it once it is older than the batch wait.
    pub fn flush(&mut self) {
        self.spool.flush();
    }

    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Seals what is spooled and lets the sender deliver until `deadline`.
    pub fn begin_close(&mut self, deadline: Instant) {
        self.close_deadline = Some(deadline);
        self.spool.begin_close(deadline);
    }

    /// Waits for the sender until the deadline (and a moment more for it to notice); a request
    /// still unanswered then is abandoned, its lines staying spooled. Reports what stays in the
    /// spool for the next start.
    pub fn finish_close(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let give_up = self.close_deadline.unwrap_or_else(Instant::now) + CLOSE_GRACE;
        while !thread.is_finished() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !thread.is_finished() {
            tracing::warn!(
                output = %self.name,
                url = %self.config_url,
                "a request was still unanswered at the shutdown deadline: abandoned, its lines stay spooled"
            );
        } else if thread.join().is_err() {
            tracing::error!(output = %self.name, "the http output thread panicked");
        }
        let (lines, bytes) = self.spool.pending();
        if lines > 0 {
            tracing::warn!(
                output = %self.name,
                lines,
                bytes,
                spool = %self.spool.dir().display(),
                "undelivered lines stay in the spool; they are sent when the sensor starts again"
            );
        }
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.begin_close(Instant::now() + self.shutdown_timeout);
            self.finish_close();
        }
    }
}

/// The HTTP client: timeouts, TLS roots, no redirects (a POST is not replayed elsewhere).
fn agent(config: &HttpConfig) -> Result<ureq::Agent, HttpError> {
    let mut tls = ureq::tls::TlsConfig::builder().disable_verification(config.insecure_skip_verify);
    if let Some(path) = &config.ca_file {
        let fail = |reason: String| HttpError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|error| fail(error.to_string()))?;
        let mut certificates = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            if let ureq::tls::PemItem::Certificate(certificate) = item.map_err(|error| fail(error.to_string()))? {
                certificates.push(certificate);
            }
        }
        if certificates.is_empty() {
            return Err(fail("no certificate in the file".to_string()));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certificates));
    }
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(config.timeout))
        .user_agent(format!("agent-sensor/{}", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}

/// How a request went.
enum Outcome {
    /// Every line was taken (`delivered` counts them; 409 copies included).
    Delivered,
    /// Some items must go again (`_bulk` 429/5xx items); the others were taken or refused.
    Partly {
        retry: Vec<usize>,
        rejected: Vec<usize>,
        reason: Option<String>,
    },
    /// Never acceptable as it is (400, 422).
    Refused(String),
    /// The request of `bytes` bytes was too large (413): smaller ones may go through.
    TooLarge { reason: String, bytes: usize },
    /// Try again later.
    Failed(String),
}

/// The output's own thread.
struct Sender {
    name: String,
    config: HttpConfig,
    agent: ureq::Agent,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
    failures: u64,
    /// Set once the receiver answered 413: requests stay under this size.
    max_request_bytes: Option<usize>,
}

impl Sender {
    fn run(mut self) {
        let mut backoff = self.config.retry_initial;
        while let Next::Send(mut segment) = self.spool.next() {
            loop {
                let lines = match self.spool.read(&mut segment) {
                    Ok(lines) => lines,
                    Err(error) => {
                        tracing::error!(output = %self.name, segment = segment.seq, %error, "cannot read a spool segment: its lines are lost");
                        Counters::add(&self.counters.dropped, segment.lines);
                        self.spool.acknowledge(&segment, 0);
                        break;
                    }
                };
                if lines.is_empty() {
                    self.spool.acknowledge(&segment, 0);
                    break;
                }
                let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
                let (sent, rest) = refs.split_at(self.request_lines(&refs));
                // Lines to keep in the segment after this request, and whether to wait first.
                let (kept, wait): (Vec<&[u8]>, bool) = match self.send(sent) {
                    Outcome::Delivered => {
                        self.recovered();
                        backoff = self.config.retry_initial;
                        Counters::add(&self.counters.delivered, sent.len() as u64);
                        (rest.to_vec(), false)
                    }
                    Outcome::TooLarge { reason, bytes } if sent.len() > 1 => {
                        let limit = bytes / 2;
                        self.max_request_bytes = Some(limit);
                        tracing::warn!(
                            output = %self.name,
                            url = %self.config.url,
                            "the receiver refused a request of {bytes} bytes as too large ({reason}): sending at most {limit} bytes per request"
                        );
                        continue;
                    }
                    Outcome::Refused(reason) | Outcome::TooLarge { reason, .. } => {
                        let kept = self.spool.reject(&segment, sent, false);
                        tracing::error!(
                            output = %self.name,
                            url = %self.config.url,
                            lines = sent.len(),
                            kept = %kept.as_deref().map_or("no (rejected/ is full)".to_string(), |p| p.display().to_string()),
                            "the receiver refused a batch for good: {reason}"
                        );
                        (rest.to_vec(), false)
                    }
                    Outcome::Partly {
                        retry,
                        rejected,
                        reason,
                    } => {
                        self.recovered();
                        if !rejected.is_empty() {
                            let refused: Vec<&[u8]> = rejected.iter().map(|&i| sent[i]).collect();
                            let kept = self.spool.reject(&segment, &refused, false);
                            tracing::error!(
                                output = %self.name,
                                lines = refused.len(),
                                kept = %kept.as_deref().map_or("no (rejected/ is full)".to_string(), |p| p.display().to_string()),
                                "the receiver refused documents: {}",
                                reason.as_deref().unwrap_or("no reason given")
                            );
                        }
                        let delivered = sent.len() - rejected.len() - retry.len();
                        Counters::add(&self.counters.delivered, delivered as u64);
                        if !retry.is_empty() {
                            Counters::add(&self.counters.failed, 1);
                            tracing::warn!(output = %self.name, lines = retry.len(), "the receiver asked for documents again (429/5xx items); retrying in {:.1}s", backoff.as_secs_f64());
                        }
                        let wait = !retry.is_empty();
                        let again = retry.iter().map(|&i| sent[i]).chain(rest.iter().copied());
                        (again.collect(), wait)
                    }
                    Outcome::Failed(reason) => {
                        self.failures += 1;
                        Counters::add(&self.counters.failed, 1);
                        if throttled(self.failures) {
                            let (lines, bytes) = self.spool.pending();
                            tracing::error!(
                                output = %self.name,
                                url = %self.config.url,
                                failures = self.failures,
                                spooled_lines = lines,
                                spooled_bytes = bytes,
                                "http output cannot deliver: {reason}; the lines stay spooled, retrying in {:.1}s",
                                backoff.as_secs_f64()
                            );
                        }
                        if !self.spool.pause(jitter(backoff)) {
                            return;
                        }
                        backoff = (backoff * 2).min(self.config.retry_max);
                        continue;
                    }
                };
                if kept.is_empty() {
                    self.spool.acknowledge(&segment, 0);
                    break;
                }
                match self.spool.rewrite(&segment, &kept) {
                    Ok(replaced) => segment = replaced,
                    Err(error) => {
                        tracing::error!(output = %self.name, %error, "cannot rewrite a spool segment; sending it whole again");
                    }
                }
                if wait {
                    if !self.spool.pause(jitter(backoff)) {
                        return;
                    }
                    backoff = (backoff * 2).min(self.config.retry_max);
                }
            }
        }
    }

    /// How many of `lines` go in the next request: all of them, unless the receiver refused
    /// a request as too large (413); then as many as fit in half that request (at least one).
    fn request_lines(&self, lines: &[&[u8]]) -> usize {
        let Some(limit) = self.max_request_bytes else {
            return lines.len();
        };
        let mut count = lines.len();
        while count > 1 && self.body(&lines[..count]).0.len() > limit {
            count = count.div_ceil(2);
        }
        count
    }

    /// The request body of `lines` and its content type.
    fn body(&self, lines: &[&[u8]]) -> (Vec<u8>, &'static str) {
        match self.config.format {
            HttpFormat::Elasticsearch => (
                body::bulk(lines, self.config.index.as_deref().unwrap_or(HttpConfig::DEFAULT_INDEX)),
                "application/x-ndjson",
            ),
            HttpFormat::Splunk => (
                body::hec(lines, self.config.index.as_deref(), &self.config.sourcetype),
                "application/json",
            ),
        }
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::info!(output = %self.name, url = %self.config.url, failures = self.failures, "http output delivers again");
            self.failures = 0;
        }
    }

    /// POSTs one batch and classifies the answer.
    fn send(&self, lines: &[&[u8]]) -> Outcome {
        let (body, content_type) = self.body(lines);
        let mut request = self.agent.post(&self.config.url).header("Content-Type", content_type);
        if let Some(authorization) = &self.config.authorization {
            request = request.header("Authorization", &authorization.0);
        }
        for (name, value) in &self.config.headers {
            request = request.header(name, value);
        }
        if let Some(deadline) = self.spool.deadline() {
            // Closing: no request outlives the deadline by much.
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(100));
            request = request
                .config()
                .timeout_global(Some(left.min(self.config.timeout)))
                .build();
        }
        let mut response = match request.send(&body[..]) {
            Ok(response) => response,
            Err(error) => return Outcome::Failed(describe(&error)),
        };
        let status = response.status().as_u16();
        let answer = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        match status {
            200..=299 => match self.config.format {
                HttpFormat::Elasticsearch => {
                    let outcome = body::bulk_outcome(&answer, lines.len());
                    if outcome.retry.is_empty() && outcome.rejected.is_empty() {
                        Outcome::Delivered
                    } else {
                        Outcome::Partly {
                            retry: outcome.retry,
                            rejected: outcome.rejected,
                            reason: outcome.reason,
                        }
                    }
                }
                HttpFormat::Splunk => Outcome::Delivered,
            },
            413 => Outcome::TooLarge {
                reason: format!("HTTP 413: {}", snippet(&answer)),
                bytes: body.len(),
            },
            400 | 422 => Outcome::Refused(format!("HTTP {status}: {}", snippet(&answer))),
            401 | 403 => Outcome::Failed(format!("HTTP {status} (check the credentials): {}", snippet(&answer))),
            300..=399 => Outcome::Failed(format!(
                "HTTP {status}: a redirect (redirects are not followed; check the url)"
            )),
            _ => Outcome::Failed(format!("HTTP {status}: {}", snippet(&answer))),
        }
    }
}

/// A transport error in words.
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(io) => format!("{io}"),
        other => other.to_string(),
    }
}

/// The start of an answer, for logs.
fn snippet(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(&answer[..answer.len().min(300)]);
    let text = text.trim();
    if text.is_empty() {
        "(no body)".to_string()
    } else {
        text.replace(['\n', '\r'], " ")
    }
}

/// `pause` ± 20 %, so many sensors do not retry in step.
fn jitter(pause: Duration) -> Duration {
    let spread = (crate::random::random_u64() % 401) as f64 / 1000.0; // 0.0 ..= 0.4
    pause.mul_f64(0.8 + spread)
}
