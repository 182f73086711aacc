//! The Docker Engine API over a unix socket.
//!
//! HTTP parsing lives here and only here: [`route`] turns a request into an engine
//! [`berth_engine::Action`] (or one of the few streaming special cases), [`respond`] turns the
//! engine's [`berth_engine::Reply`] into Docker's JSON shapes and status codes, and [`server`]
//! runs the accept loop.

pub mod body;
pub mod respond;
pub mod route;
pub mod server;
pub mod stream;

pub use server::serve;
