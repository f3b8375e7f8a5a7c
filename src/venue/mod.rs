//! Venue wire formats: one folder per exchange, the only place that knows them.
