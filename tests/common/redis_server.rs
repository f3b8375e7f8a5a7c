//! A real `redis-server` for the Redis tests: started on a free loopback
//! port (never 6379) in its own temporary directory, killed (SIGKILL) and
//! restarted on demand, and killed with the test. Include with
//! `#[path = "common/redis_server.rs"] mod redis_server;`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A loopback port that was free a moment ago (never Redis's default 6379).
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let p = l.local_addr().expect("local addr").port();
        if p != 6379 {
            return p;
        }
    }
}

pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    /// Append-only file with fsync on every write: what was acknowledged
    /// survives a SIGKILL.
    aof: bool,
    /// `requirepass`, when set (the URL then carries it).
    password: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server now (fails the test if `redis-server` is missing:
    /// `scripts/test.sh` installs it).
    pub fn start(aof: bool) -> RedisServer {
        let mut s = RedisServer::not_started(aof);
        s.spawn();
        s
    }

    /// Picks a port and a directory without starting (for "absent at startup").
    pub fn not_started(aof: bool) -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "qt-redis-test-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the redis test dir");
        RedisServer {
            port: free_port(),
            dir,
            aof,
            password: None,
            child: None,
        }
    }

    /// Starts a server that wants `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> RedisServer {
        let mut s = RedisServer::not_started(false);
        s.password = Some(password.to_string());
        s.spawn();
        s
    }

    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Starts (or restarts) the server on the same port and directory and
    /// waits until it answers PING.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "redis-server already running");
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--daemonize")
            .arg("no");
        if let Some(p) = &self.password {
            cmd.arg("--requirepass").arg(p);
        }
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        self.child = Some(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(mut c) = self.try_conn()
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    /// SIGKILL: no shutdown, no final save.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn try_conn(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.url())?;
        client.get_connection_with_timeout(Duration::from_millis(500))
    }

    pub fn conn(&self) -> redis::Connection {
        self.try_conn().expect("connect to the test redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every entry of a stream, oldest first: (id, fields).
pub fn xrange(c: &mut redis::Connection, key: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut start = "-".to_string();
    loop {
        let v: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(key)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query(c)
            .expect("XRANGE");
        let n = v.len();
        if let Some((last, _)) = v.last() {
            start = format!("({last}");
        }
        out.extend(v);
        if n < 10_000 {
            return out;
        }
    }
}

/// A field of an entry (panics with the entry when absent).
pub fn field<'a>(entry: &'a (String, Vec<(String, String)>), name: &str) -> &'a str {
    entry
        .1
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("entry {} has no field `{name}`: {:?}", entry.0, entry.1))
}
