//! Helpers for the operations tests: run the real binary as a child process
//! on a temp config (free loopback ports) and find its ops address, plus a
//! plain HTTP request without a client library.
#![allow(dead_code)]

use quantum_trader::config::Config;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quantum-trader"))
}

/// A fresh temp directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "qt-ops-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The demo config on free ports (simulator and ops), tweaked by `f`.
pub fn demo_config(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::demo();
    c.sim.listen = "127.0.0.1:0".into();
    c.ops.listen = "127.0.0.1:0".into();
    c.ops.status_interval_secs = 0;
    // Each engine its own journal under the OS temp dir, never the repo's.
    c.journal.dir = temp_dir("journal").to_string_lossy().into_owned();
    f(&mut c);
    quantum_trader::config::validate(&c).expect("test config is valid");
    c
}

pub fn write_config(dir: &Path, c: &Config) -> PathBuf {
    let p = dir.join("qt.toml");
    std::fs::write(&p, c.to_toml()).unwrap();
    p
}

/// A running `quantum-trader run`; killed on drop.
pub struct Engine {
    pub child: Child,
    pub ops: SocketAddr,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Engine {
    /// Spawns `quantum-trader run --config <file>` with extra environment and
    /// waits (up to 30 s) for the line announcing the ops address.
    pub fn spawn(config: &Path, env: &[(&str, &str)]) -> Engine {
        let mut cmd = bin();
        cmd.args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn quantum-trader");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("metrics http://").nth(1)
                    && let Some(a) = rest.split('/').next()
                {
                    let _ = tx.send(a.to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let ops = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "engine never announced its ops address: {:?}",
                    stderr.lock().unwrap()
                );
            }
        };
        Engine { child, ops, stderr }
    }

    /// SIGTERM, then waits for the exit (at most 20 s).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
/// Chunked answers are de-chunked.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    http_with(addr, method, path, "")
}

/// As [`http`], with extra header lines (each ending in `\r\n`).
pub fn http_with(addr: SocketAddr, method: &str, path: &str, headers: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// The body of a `Transfer-Encoding: chunked` answer (Prometheus's API
/// answers chunked once a body outgrows its write buffer).
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    out
}

pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// A free loopback TCP port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
