//! A simulated Binance venue kept outside the engine (it outlives engine
//! stops, as a venue does), a client signed with its key for orders "by
//! hand", and the testnet config of an engine that trades there and sends
//! no order of its own (every decision SKIPs on a tiny order-notional
//! limit), for tests of what the trading session does by itself: stop
//! work, the account view, discrepancies.
#![allow(dead_code)]

use super::{embedded_sim, test_config, wait_until};
use qt_sim::binance::{SIM_API_KEY, SIM_API_SECRET};
use quantum_trader::app::engine::{Engine, EngineOptions, instruments_from_config};
use quantum_trader::config::{Config, TradingMode};
use quantum_trader::core::{Instrument, format_decimal};
use quantum_trader::venue::binance::signed::{
    ApiCredentials, NewOrder, NewOrderKind, SignedClient, WireSide,
};
use std::time::Duration;

pub const KEY_ENV: &str = "QT_TEST_VENUE_RIG_KEY";
pub const SECRET_ENV: &str = "QT_TEST_VENUE_RIG_SECRET";

pub struct VenueRig {
    pub sim: qt_sim::SimHandle,
    pub btc: Instrument,
    pub rt: tokio::runtime::Runtime,
    pub client: SignedClient,
    /// BTCUSDT's best bid once the book had one (price units).
    pub bid: i64,
}

impl VenueRig {
    pub fn start() -> VenueRig {
        // SAFETY: these variable names are read by this rig's tests only,
        // which set the same values.
        unsafe {
            std::env::set_var(KEY_ENV, SIM_API_KEY);
            std::env::set_var(SECRET_ENV, SIM_API_SECRET);
        }
        let proto = test_config(|_| {});
        let table = instruments_from_config(&proto).unwrap();
        let sim = embedded_sim::start_sim_for(&proto, &table).unwrap();
        let btc = table
            .iter()
            .find(|i| i.symbol == "BTCUSDT")
            .unwrap()
            .clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = SignedClient::new(
            &sim.rest_url(),
            ApiCredentials::new(SIM_API_KEY, SIM_API_SECRET),
            None,
        );
        assert!(wait_until(Duration::from_secs(10), || sim
            .book("BTCUSDT")
            .is_some_and(|b| !b.bids.is_empty())));
        let bid = sim.book("BTCUSDT").unwrap().bids[0].0;
        VenueRig {
            sim,
            btc,
            rt,
            client,
            bid,
        }
    }

    /// The testnet config of a quiet engine trading at this venue,
    /// journaling to `journal`, tweaked by `f`.
    pub fn config(&self, journal: &std::path::Path, f: impl FnOnce(&mut Config)) -> Config {
        let sim = &self.sim;
        test_config(|c| {
            c.mode = TradingMode::Testnet;
            c.risk.max_order_notional = 0.01;
            c.sim.enabled = false;
            c.journal.dir = journal.to_string_lossy().into_owned();
            let b = c
                .venues
                .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
                .unwrap();
            b.api_key_env = KEY_ENV.into();
            b.api_secret_env = SECRET_ENV.into();
            b.ws_url.clear();
            b.rest_url.clear();
            quantum_trader::venue::wiring::fill_sim_urls(c, &sim.ws_url(), &sim.rest_url());
            let b = c
                .venues
                .get_mut::<quantum_trader::venue::binance::config::BinanceConfig>()
                .unwrap();
            b.trade_rest_url = sim.rest_url();
            b.user_stream_url = sim.ws_url();
            f(c)
        })
    }

    /// The config of an engine that trades at this venue several times a
    /// second (a model with low thresholds, no cooldown, 5 orders a
    /// second), its files under `dir`, tweaked by `f`.
    pub fn trading_config(&self, dir: &std::path::Path, f: impl FnOnce(&mut Config)) -> Config {
        std::fs::create_dir_all(dir).unwrap();
        let text = std::fs::read_to_string("config/model.json").unwrap();
        let text = text
            .replace("\"buy_threshold\": 0.80", "\"buy_threshold\": 0.52")
            .replace("\"sell_threshold\": 0.20", "\"sell_threshold\": 0.48");
        let model = dir.join("model.json");
        std::fs::write(&model, text).unwrap();
        self.config(&dir.join("journal"), |c| {
            c.risk.max_order_notional = Config::demo().risk.max_order_notional;
            c.model.path = model.to_string_lossy().into_owned();
            c.model.decision_cooldown_ms = 0;
            c.risk.max_orders_per_sec = 5;
            c.risk.max_orders_per_min = 100_000;
            c.risk.daily_trade_cap = 100_000;
            f(c)
        })
    }

    /// Starts an engine on `cfg` (no ops server unless `ops`) and waits
    /// for its private stream.
    pub fn engine(&self, cfg: Config, ops: bool) -> Engine {
        let e = Engine::start(
            cfg,
            EngineOptions {
                no_ops: !ops,
                ..Default::default()
            },
        )
        .expect("testnet starts against the simulator");
        let shared = e.shared().clone();
        assert!(
            wait_until(Duration::from_secs(20), || shared
                .venue_gates
                .private_stream_up(quantum_trader::core::Venue::Binance)),
            "the private stream comes up"
        );
        e
    }

    /// A MARKET order of `lots` BTCUSDT lots placed by hand (not by the
    /// engine), with client id `id`.
    pub fn market_by_hand(&self, id: &str, buy: bool, lots: i64) {
        self.rt
            .block_on(self.client.new_order(&NewOrder {
                symbol: "BTCUSDT".into(),
                side: if buy { WireSide::Buy } else { WireSide::Sell },
                kind: NewOrderKind::Market,
                quantity: format_decimal(lots * self.btc.lot, self.btc.qty_scale),
                client_order_id: id.into(),
                reduce_only: false,
            }))
            .unwrap();
    }

    /// The venue's BTCUSDT position as it writes it.
    pub fn position(&self) -> String {
        let p = self
            .rt
            .block_on(self.client.position_risk(Some("BTCUSDT")))
            .unwrap();
        p[0].position_amt.clone()
    }
}
