//! `scripts/install.sh` staged into a temp root (`--destdir`, no root-only
//! steps): every file lands where the README says with the right mode, the
//! installed config is valid and uses absolute paths, the unit points at the
//! installed binary, and a second run keeps local edits (idempotent).

mod ops_common;

use ops_common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn install(root: &std::path::Path) -> String {
    let out = Command::new("bash")
        .arg("scripts/install.sh")
        .arg("--destdir")
        .arg(root)
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_quantum-trader"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "install.sh failed:\n{text}");
    text
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn staged_install_is_complete_and_idempotent() {
    let root = temp_dir("install");
    let text = install(&root);
    assert!(
        text.contains("skipped creating user quantum-trader"),
        "{text}"
    );
    let etc = root.join("etc/quantum-trader");
    let bin = root.join("usr/local/bin/quantum-trader");
    assert_eq!(mode(&bin), 0o755);
    assert_eq!(mode(&etc.join("quantum-trader.toml")), 0o640);
    assert_eq!(mode(&etc.join("env")), 0o640);
    assert_eq!(mode(&etc.join("model.json")), 0o644);
    assert_eq!(mode(&root.join("var/lib/quantum-trader")), 0o750);
    for f in [
        "etc/quantum-trader/demo.toml.dist",
        "etc/quantum-trader/paper.toml.dist",
        "usr/local/share/quantum-trader/prometheus/alerts.yml",
        "usr/local/share/quantum-trader/prometheus/alerts_test.yml",
        "usr/local/share/quantum-trader/prometheus/prometheus.yml",
        "usr/local/share/quantum-trader/grafana/quantum-trader.json",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    // The installed binary runs and the installed config is valid, with
    // absolute model and journal paths.
    let cfg = std::fs::read_to_string(etc.join("quantum-trader.toml")).unwrap();
    assert!(
        cfg.contains("path = \"/etc/quantum-trader/model.json\""),
        "{cfg}"
    );
    assert!(
        cfg.contains("dir = \"/var/lib/quantum-trader/journal\""),
        "{cfg}"
    );
    let out = Command::new(&bin)
        .arg("check-config")
        .arg(etc.join("quantum-trader.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paper = std::fs::read_to_string(etc.join("paper.toml.dist")).unwrap();
    assert!(
        paper.contains("dir = \"/var/lib/quantum-trader/"),
        "{paper}"
    );
    // The unit starts the installed binary on the installed config.
    let unit =
        std::fs::read_to_string(root.join("etc/systemd/system/quantum-trader.service")).unwrap();
    assert!(unit.contains(
        "ExecStart=/usr/local/bin/quantum-trader run --config /etc/quantum-trader/quantum-trader.toml"
    ));
    assert!(unit.contains("EnvironmentFile=-/etc/quantum-trader/env"));

    // Local edits survive a second run; references are refreshed.
    let edited = cfg.replace("daily_trade_cap = 200", "daily_trade_cap = 150");
    assert_ne!(edited, cfg);
    std::fs::write(etc.join("quantum-trader.toml"), &edited).unwrap();
    std::fs::write(etc.join("env"), "QT_ADMIN_TOKEN=kept\n").unwrap();
    std::fs::write(etc.join("demo.toml.dist"), "stale").unwrap();
    let text = install(&root);
    assert!(text.contains("keeping"), "{text}");
    assert_eq!(
        std::fs::read_to_string(etc.join("quantum-trader.toml")).unwrap(),
        edited
    );
    assert_eq!(
        std::fs::read_to_string(etc.join("env")).unwrap(),
        "QT_ADMIN_TOKEN=kept\n"
    );
    assert!(
        std::fs::read_to_string(etc.join("demo.toml.dist"))
            .unwrap()
            .contains("[risk]")
    );
}

#[test]
fn install_refuses_unknown_options() {
    let out = Command::new("bash")
        .args(["scripts/install.sh", "--nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option --nope"));
}
