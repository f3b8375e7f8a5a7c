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
    assert!(c.venues.enabled_sections().next().is_some());
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

/// `[pipeline] layout`: the three values parse, anything else is refused
/// naming the key; `wait = "spin_then_park"` takes a bounded `spin_us`.
#[test]
fn pipeline_layout_and_spin_then_park_parse_strictly() {
    let q = "queue_capacity = 16384";
    for (text, want) in [
        ("threads", Layout::Threads),
        ("fused", Layout::Fused),
        ("auto", Layout::Auto),
    ] {
        let c = with("", Some((q, &format!("layout = \"{text}\"\n{q}")))).unwrap();
        assert_eq!(c.pipeline.layout, want);
    }
    assert_eq!(Config::demo().pipeline.layout, Layout::Threads);
    let e = with("", Some((q, &format!("layout = \"single\"\n{q}")))).unwrap_err();
    assert_eq!(e.path, "pipeline.layout");
    assert!(e.reason.contains("single"), "{e}");
    let c = with(
        "",
        Some((
            "[pipeline.book]\nwait = \"park\"",
            "[pipeline.book]\nwait = \"spin_then_park\"\nspin_us = 20",
        )),
    )
    .unwrap();
    assert_eq!(c.pipeline.book.wait, WaitKind::SpinThenPark);
    assert_eq!(c.pipeline.book.spin_us, 20);
    let e = with(
        "",
        Some((
            "[pipeline.book]\nwait = \"park\"",
            "[pipeline.book]\nwait = \"spin_then_park\"\nspin_us = 5000000",
        )),
    )
    .unwrap_err();
    assert_eq!(e.path, "pipeline.book.spin_us");
    // auto: fused below the threads layout's thread count.
    assert_eq!(Layout::Auto.resolve(2, 1), Layout::Fused);
    assert_eq!(Layout::Auto.resolve(4, 1), Layout::Fused);
    assert_eq!(Layout::Auto.resolve(5, 1), Layout::Threads);
    assert_eq!(Layout::Auto.resolve(6, 3), Layout::Fused);
    assert_eq!(Layout::Auto.resolve(8, 3), Layout::Threads);
    assert_eq!(Layout::Fused.resolve(64, 1), Layout::Fused);
    assert_eq!(Layout::Threads.resolve(1, 3), Layout::Threads);
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

#[test]
fn a_key_of_another_venue_is_an_unknown_field_at_its_path() {
    // Binance-only keys in a Bybit or OKX section, and back.
    for (section, key) in [
        ("[venues.bybit]\n", "depth_speed_ms = 100"),
        ("[venues.okx]\n", "rest_weight_per_min = 2400"),
        ("[venues.okx]\n", "ws_market_url = \"wss://x\""),
        ("[venues.binance]\n", "book_depth = 50"),
        ("[venues.binance]\n", "ping_interval_ms = 1000"),
    ] {
        let e = with("", Some((section, &format!("{section}{key}\n")))).unwrap_err();
        let name = key.split(' ').next().unwrap();
        let venue = section.trim_matches(|c| c == '[' || c == ']' || c == '\n');
        assert_eq!(e.path, format!("{venue}.{name}"), "{e}");
        assert!(e.reason.contains("unknown field"), "{e}");
    }
}

#[test]
fn each_venue_checks_its_own_keys_with_their_paths() {
    let e = with("", Some(("book_depth = 50", "book_depth = 7"))).unwrap_err();
    assert_eq!(e.path, "venues.bybit.book_depth");
    assert!(e.reason.contains("1, 50, 200 or 1000"), "{e}");
    let e = with("", Some(("book_depth = 400", "book_depth = 50"))).unwrap_err();
    assert_eq!(e.path, "venues.okx.book_depth");
    let e = with("", Some(("depth_speed_ms = 100", "depth_speed_ms = 99"))).unwrap_err();
    assert_eq!(e.path, "venues.binance.depth_speed_ms");
}

#[test]
fn an_instruments_venue_is_one_of_the_venues() {
    let e = with("", Some(("venue = \"binance\"", "venue = \"kraken\""))).unwrap_err();
    assert_eq!(e.path, "instruments[0].venue");
    for v in crate::core::Venue::ALL {
        assert!(e.reason.contains(v.as_str()), "{e}");
    }
    assert!(e.reason.contains("kraken"), "{e}");
    let c = Config::demo();
    assert_eq!(c.instruments[0].venue, crate::core::Venue::ALL[0]);
}
