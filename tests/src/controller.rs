//! Running the real `shopset-controller` binary in tests: on a free loopback port, with its
//! log in a file, killed when dropped; and a tiny HTTP client for its endpoints.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The controller binary, built once per test run.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| crate::built("shopset-controller", "shopset-controller"))
        .clone()
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running controller.
pub struct Controller {
    child: Child,
    /// Its HTTP port.
    pub port: u16,
    /// Its log (stderr).
    pub log: PathBuf,
}

impl Controller {
    /// Starts the controller with `args` (plus `--listen` and quick timers), logging to
    /// `log`.
    pub fn start(args: &[&str], envs: &[(&str, &str)], log: &Path) -> Self {
        let c = Self::spawn(args, envs, log);
        c.wait_ready();
        c
    }

    /// Starts the controller in API mode against `api`, in `namespace`, as replica `name`:
    /// its kubeconfig, cache (leases of 3 s) and log are `dir/<name>.kubeconfig`,
    /// `dir/<name>-cache` and `dir/<name>.log`; `extra` are more flags.
    pub fn start_in_cluster(
        api: &crate::fake_api::FakeApi,
        dir: &Path,
        name: &str,
        namespace: &str,
        extra: &[&str],
    ) -> Self {
        let config = dir.join(format!("{name}.kubeconfig"));
        api.write_kubeconfig(&config, Some(namespace));
        let cache = dir.join(format!("{name}-cache")).display().to_string();
        let mut args = vec![
            "--namespace",
            namespace,
            "--cache-dir",
            &cache,
            "--lease-seconds",
            "3",
        ];
        args.extend_from_slice(extra);
        let config = config.display().to_string();
        Self::start(
            &args,
            &[("KUBECONFIG", config.as_str()), ("POD_NAME", name)],
            &dir.join(format!("{name}.log")),
        )
    }

    /// Starts the controller like [`Controller::start`], without waiting for it to be ready
    /// (it may be meant to crash first).
    pub fn spawn(args: &[&str], envs: &[(&str, &str)], log: &Path) -> Self {
        let port = free_port();
        let file = std::fs::File::create(log).expect("log file");
        let child = Command::new(binary())
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // `SHOPSET_TEST_RUST_LOG` gives another filter (a benchmark's timeline).
            .env(
                "RUST_LOG",
                std::env::var("SHOPSET_TEST_RUST_LOG")
                    .unwrap_or_else(|_| "info,kube=warn,hyper=warn,tower=warn".into()),
            )
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("the controller starts");
        Self {
            child,
            port,
            log: log.to_owned(),
        }
    }

    /// Waits for the process to end by itself (`timeout` at most): its exit status, `None`
    /// when it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        eventually(timeout, || self.child.try_wait().ok().flatten())
    }

    /// Waits until `/readyz` answers 200 (60 s at most).
    pub fn wait_ready(&self) {
        eventually(Duration::from_secs(60), || {
            (self.get("/readyz").0 == 200).then_some(())
        })
        .unwrap_or_else(|| panic!("controller not ready; log:\n{}", self.log_text()));
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path`: status and body (status 0 when nothing answers).
    pub fn get(&self, path: &str) -> (u16, String) {
        request(self.port, "GET", path, &[], b"")
    }

    /// `POST path` with headers and body.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        request(self.port, "POST", path, headers, body)
    }

    /// Sends SIGKILL and waits.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit (30 s at most); true when it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        false
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal HTTP/1.1 request to 127.0.0.1.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    request_to(port, "127.0.0.1", method, path, headers, body)
}

/// Like [`request`], with `host` as the Host header (a virtual host behind 127.0.0.1).
pub fn request_to(
    port: u16,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body).is_err() {
        return (0, String::new());
    }
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls `f` every 50 ms until it gives `Some`, or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(t) = f() {
            return Some(t);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
