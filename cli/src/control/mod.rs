//! The control API of `pipectl serve`: HTTP/JSON on loopback (TLS optional), every
//! request authenticated by a bearer token. The daemon side (`server`, `history`) and the
//! client the commands use (`client`) share the messages in `api`.

pub mod api;
pub mod client;
pub mod history;
pub mod server;
pub mod tls;
pub mod token;
