use super::*;

fn with(extra: &str, replace: Option<(&str, &str)>) -> Result<Config, ConfigError> {
    let mut t = DEMO_TOML.to_string();
    if let Some((a, b)) = replace {
        assert!(t.contains(a), "demo config lacks `{a}`");
        t = t.replacen(a, b, 1);
    }
    t.push_str(extra);
    Config::from_toml(&t)
}

#[test]
fn demo_config_is_valid() {
    let c = Config::demo();
    assert!(c.sim.enabled);
    assert_eq!(c.mode, TradingMode::Paper);
    assert!(!c.venues.enabled().is_empty());
}

#[test]
fn unknown_key_is_rejected_with_its_path() {
    let e = with(
        "",
        Some(("[risk]\n", "[risk]\nmax_orders_per_minute = 3\n")),
    )
    .unwrap_err();
    assert_eq!(e.path, "risk.max_orders_per_minute");
    assert!(e.reason.contains("unknown field"), "{e}");
    let e = with("", Some(("[ops]\n", "[ops]\nlistn = \"x\"\n"))).unwrap_err();
    assert_eq!(e.path, "ops.listn");
    assert!(e.to_string().contains("listn"), "{e}");
}

#[test]
fn out_of_range_value_is_rejected_with_its_path() {
    let e = with(
        "",
        Some(("max_orders_per_sec = 5", "max_orders_per_sec = 0")),
    )
    .unwrap_err();
    assert_eq!(e.path, "risk.max_orders_per_sec");
    assert!(e.reason.contains("between"), "{e}");
    let e = with("", Some(("queue_capacity = 16384", "queue_capacity = 3"))).unwrap_err();
    assert_eq!(e.path, "pipeline.queue_capacity");
}

#[test]
fn wrong_type_names_the_nested_path() {
    let e = with(
        "",
        Some((
            "[pipeline.book]\nwait = \"park\"",
            "[pipeline.book]\nwait = \"sleep\"",
        )),
    )
    .unwrap_err();
    assert_eq!(e.path, "pipeline.book.wait");
    assert!(e.reason.contains("sleep"), "{e}");
}

#[test]
fn symbol_without_instrument_is_rejected() {
    let e = with(
        "",
        Some((
            "symbols = [\"BTCUSDT\"",
            "symbols = [\"BTCUSDT\", \"DOGEUSDT\"",
        )),
    )
    .unwrap_err();
    assert!(e.path.starts_with("venues.binance.symbols["), "{e}");
    assert!(e.reason.contains("DOGEUSDT"), "{e}");
}

#[test]
fn order_qty_finer_than_lot_is_rejected() {
    let e = with(
        "",
        Some(("order_qty = \"0.002\"", "order_qty = \"0.0025\"")),
    )
    .unwrap_err();
    assert_eq!(e.path, "instruments[0].order_qty");
}

#[test]
fn secrets_cannot_be_put_in_the_file() {
    let e = with(
        "",
        Some((
            "[venues.binance]\n",
            "[venues.binance]\napi_key = \"abc\"\n",
        )),
    )
    .unwrap_err();
    assert_eq!(e.path, "venues.binance.api_key");
    assert!(e.reason.contains("unknown field"), "{e}");
}
