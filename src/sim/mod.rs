//! Venue simulator: speaks the venues' WebSocket and REST protocols on loopback.
