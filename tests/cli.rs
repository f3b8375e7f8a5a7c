//! The command line as a user runs it: `check-config` accepts the shipped
//! configs and rejects bad ones with exit status 2 and the key path.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quantum-trader"))
}

#[test]
fn check_config_accepts_the_shipped_configs() {
    for f in [
        "config/demo.toml",
        "config/paper.toml",
        "config/testnet.toml",
        "config/testnet-sim.toml",
        "config/live.example.toml",
    ] {
        let out = bin().args(["check-config", f]).output().unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("is valid") && text.contains("[risk]"),
            "{text}"
        );
    }
}

#[test]
fn check_config_masks_secrets_in_what_it_prints() {
    let dir = std::env::temp_dir().join(format!("qt-cli-redact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let demo = std::fs::read_to_string("config/demo.toml").unwrap();
    assert!(demo.contains("[redis]\nurl = \"\""));
    let text = demo.replace(
        "[redis]\nurl = \"\"",
        "[redis]\nurl = \"redis://qt:Pa55-w0rd@10.1.2.3:6379/0\"",
    );
    let f = dir.join("redis.toml");
    std::fs::write(&f, text).unwrap();
    let out = bin().arg("check-config").arg(&f).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("Pa55-w0rd"), "password printed: {stdout}");
    assert!(!stderr.contains("Pa55-w0rd"), "password logged: {stderr}");
    assert!(
        stdout.contains("redis://qt:***@10.1.2.3:6379/0"),
        "{stdout}"
    );
}

#[test]
fn check_config_rejects_bad_configs_with_status_2_and_the_key_path() {
    let dir = std::env::temp_dir().join(format!("qt-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let demo = std::fs::read_to_string("config/demo.toml").unwrap();
    let cases = [
        (
            demo.replace("[risk]\n", "[risk]\nmax_oders_per_sec = 3\n"),
            "risk.max_oders_per_sec",
        ),
        (
            demo.replace("daily_trade_cap = 200", "daily_trade_cap = 0"),
            "risk.daily_trade_cap",
        ),
        (
            demo.replace(
                "[pipeline.score]\nwait = \"park\"",
                "[pipeline.score]\nwait = \"nap\"",
            ),
            "pipeline.score.wait",
        ),
        ("this is = = not toml".to_string(), "invalid TOML"),
    ];
    for (i, (text, expect)) in cases.iter().enumerate() {
        let f = dir.join(format!("bad{i}.toml"));
        std::fs::write(&f, text).unwrap();
        let out = bin().arg("check-config").arg(&f).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "case {i}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(expect),
            "case {i}: expected `{expect}` in: {err}"
        );
    }
    let out = bin()
        .args(["check-config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A report command whose reader goes away (`check-config … | head -1`)
/// ends quietly, as Unix tools do: no panic on the broken pipe.
#[test]
fn a_closed_pipe_ends_a_report_quietly() {
    use std::process::Stdio;
    let mut child = bin()
        .args(["check-config", "config/demo.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once: every write finds no reader.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}
