//! Real git servers on 127.0.0.1, started by the tests and stopped when dropped: `git daemon`
//! (git protocol, push enabled), smart HTTP through `git http-backend` behind a small server of
//! ours with basic authentication, and OpenSSH's `sshd`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// Creates a bare repository that a server may push into, with a reflog of every update.
pub fn bare_repo(path: &Path) {
    let out = Command::new("git")
        .args(["init", "--quiet", "--bare"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    for (k, v) in [
        ("core.logAllRefUpdates", "always"),
        ("http.receivepack", "true"),
        ("receive.denyNonFastForwards", "true"),
    ] {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(path)
            .args(["config", k, v])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
}

/// Installs a hook script in a bare repository.
pub fn hook(repo: &Path, name: &str, script: &str) {
    let file = repo.join("hooks").join(name);
    std::fs::write(&file, script).unwrap();
    let out = Command::new("chmod").arg("+x").arg(&file).output().unwrap();
    assert!(out.status.success());
}

/// `git daemon` serving the bare repositories under `root`.
pub struct GitDaemon {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl GitDaemon {
    /// Starts it.
    #[must_use]
    pub fn start(root: &Path) -> Self {
        Self::start_with_env(root, &[])
    }

    /// Starts it with extra environment variables, which its `upload-pack` and `receive-pack`
    /// children inherit (for example `GIT_CONFIG_GLOBAL`, the only way besides the system
    /// config and the command line to set `uploadpack.packObjectsHook`).
    #[must_use]
    pub fn start_with_env(root: &Path, env: &[(&str, &Path)]) -> Self {
        crate::require("git");
        let port = free_port();
        let child = Command::new("git")
            .envs(env.iter().copied())
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", root.display()))
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        wait_for_port(port);
        Self { child, port }
    }

    /// The URL of a repository it serves.
    #[must_use]
    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Smart HTTP: `git http-backend` behind a minimal HTTP/1.1 server that demands basic
/// authentication for every request.
pub struct GitHttp {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Its port.
    pub port: u16,
    /// Requests received, and how many of them carried the password: tests count what reached
    /// the server, not only what it accepted.
    pub seen: Arc<Seen>,
}

/// What a test server received.
#[derive(Debug, Default)]
pub struct Seen {
    /// Requests.
    pub requests: std::sync::atomic::AtomicUsize,
    /// Requests carrying the password (the redirect server, which knows none, counts every
    /// `Authorization` header).
    pub with_credentials: std::sync::atomic::AtomicUsize,
}

impl Seen {
    /// `(requests, requests carrying credentials)`.
    #[must_use]
    pub fn counts(&self) -> (usize, usize) {
        (
            self.requests.load(Ordering::SeqCst),
            self.with_credentials.load(Ordering::SeqCst),
        )
    }
}

fn http_backend() -> PathBuf {
    let out = Command::new("git").arg("--exec-path").output().unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-http-backend")
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn serve(
    mut stream: TcpStream,
    root: &Path,
    expected_auth: &str,
    seen: &Seen,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    seen.requests.fetch_add(1, Ordering::SeqCst);
    if header("authorization").as_deref() == Some(expected_auth) {
        seen.with_credentials.fetch_add(1, Ordering::SeqCst);
    }
    if header("authorization").as_deref() != Some(expected_auth) {
        stream.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return Ok(());
    }
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new(http_backend())
        .env_clear()
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", &method)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header("content-encoding").unwrap_or_default(),
        )
        .env("GIT_PROTOCOL", header("git-protocol").unwrap_or_default())
        .env("REMOTE_USER", "shopset")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    cgi.stdin.take().unwrap().write_all(&body)?;
    let output = cgi.wait_with_output()?;
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        });
    let (head, content) = match split {
        Some((i, n)) => (
            String::from_utf8_lossy(&output.stdout[..i]).into_owned(),
            &output.stdout[i + n..],
        ),
        None => (String::new(), &output.stdout[..]),
    };
    let mut status = "200 OK".to_owned();
    let mut out_headers = String::new();
    for line in head.lines() {
        if let Some(s) = line.strip_prefix("Status:") {
            status = s.trim().to_owned();
        } else if !line.is_empty() {
            out_headers.push_str(line.trim_end());
            out_headers.push_str("\r\n");
        }
    }
    write!(
        stream,
        "HTTP/1.1 {status}\r\n{out_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        content.len()
    )?;
    stream.write_all(content)?;
    stream.flush()
}

impl GitHttp {
    /// Serves the bare repositories under `root`, for `user:password` only.
    #[must_use]
    pub fn start(root: &Path, user: &str, password: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let auth = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        let root = root.to_owned();
        let stop2 = stop.clone();
        let seen = Arc::new(Seen::default());
        let seen2 = seen.clone();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let (root, auth, seen) = (root.clone(), auth.clone(), seen2.clone());
                        std::thread::spawn(move || {
                            let _ = serve(stream, &root, &auth, &seen);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
            port,
            seen,
        }
    }

    /// The URL of a repository it serves.
    #[must_use]
    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }
}

/// An HTTP server on 127.0.0.1 that answers every request with `301` to the same path under
/// `target` (a base URL), as a moved repository host does.
pub struct Redirect {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Its port.
    pub port: u16,
    /// What it received.
    pub seen: Arc<Seen>,
}

impl Redirect {
    /// Redirects to `target` (for example `http://localhost:PORT`).
    #[must_use]
    pub fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Seen::default());
        let (stop2, seen2, target) = (stop.clone(), seen.clone(), target.to_owned());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        seen2.with_credentials.fetch_add(1, Ordering::SeqCst);
                    }
                }
                seen2.requests.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    stream,
                    "HTTP/1.1 301 Moved Permanently\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self {
            stop,
            thread: Some(thread),
            port,
            seen,
        }
    }

    /// The URL of a repository behind it.
    #[must_use]
    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// OpenSSH's sshd on a loopback port, with its own host key, accepting one client key for
/// the current user.
pub struct Sshd {
    child: Child,
    /// Its port.
    pub port: u16,
    /// A known-hosts file with its host key.
    pub known_hosts: PathBuf,
    /// The client's private key.
    pub client_key: PathBuf,
}

/// Generates an ed25519 key pair at `path` (and `path.pub`).
pub fn ssh_keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "shopset-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Sshd {
    /// Starts it, with its files under `dir`.
    #[must_use]
    pub fn start(dir: &Path) -> Self {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is required (Debian package openssh-server)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        ssh_keygen(&host_key);
        ssh_keygen(&client_key);
        let authorized = dir.join("authorized_keys");
        std::fs::copy(dir.join("client_key.pub"), &authorized).unwrap();
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {}\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").ok();
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        wait_for_port(port);
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let mut fields = host_pub.split_whitespace();
        let known_hosts = dir.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!(
                "[127.0.0.1]:{port} {} {}\n",
                fields.next().unwrap(),
                fields.next().unwrap()
            ),
        )
        .unwrap();
        Self {
            child,
            port,
            known_hosts,
            client_key,
        }
    }

    /// The URL of a repository at an absolute path.
    #[must_use]
    pub fn url(&self, path: &Path) -> String {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, path.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
