//! The protective limit price of an IOC order, shared by the governor (its
//! slippage check) and the risk stage (the order it builds).

use crate::core::Side;

/// Worst acceptable price of an IOC order: the touch moved by
/// `max_slippage_bps` against us, in whole ticks, rounded toward the touch
/// (protective: the order never accepts more than the configured slippage).
/// A BUY limit is never below the ask, a SELL limit never above the bid nor
/// below one tick.
pub fn limit_price(side: Side, touch: i64, tick: i64, max_slippage_bps: f64) -> i64 {
    let tick = tick.max(1);
    let band = (touch as f64 * max_slippage_bps.max(0.0) / 1e4).floor();
    let band_ticks = if band.is_finite() && band > 0.0 {
        (band as i64) / tick
    } else {
        0
    };
    let band = band_ticks.saturating_mul(tick);
    match side {
        Side::Buy => touch.saturating_add(band),
        Side::Sell => {
            let px = touch.saturating_sub(band);
            if px < tick { touch.min(tick) } else { px }
        }
    }
}
