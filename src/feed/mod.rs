//! Generic WebSocket feed session: connect, subscribe, keepalive, reconnect.
