//! Order execution: paper matcher, order state machine, positions (the exec stage).
