//! Feeds arbitrary method, path, query and body to `berth_api::route::route`, the pure
//! request → action mapping. Nothing may panic; a refusal must be an HTTP error status with a
//! message (501s saying "not implemented by berth"); the `/vX.Y` prefix must change nothing.
//!
//! Input layout: `METHOD \n PATH \n QUERY \n BODY...` (the first three lossy UTF-8; a method
//! that is not a valid token falls back to one picked by its first byte), so the seed corpus can
//! be written by hand, e.g. `printf 'POST\n/containers/create\nname=x\n{"Image":"bb"}'`.
#![no_main]

use berth_api::route::{route, strip_version, Route, RouteError};
use hyper::Method;
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 5] = ["GET", "POST", "DELETE", "HEAD", "PUT"];

fn kind(r: &Result<Route, RouteError>) -> String {
    match r {
        Ok(Route::Action(a)) => {
            let d = format!("{a:?}");
            let end = d.find([' ', '{', '(']).unwrap_or(d.len());
            d[..end].to_string()
        }
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("{} {}", e.status, e.message),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let m = parts.next().unwrap_or_default();
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let method = Method::from_bytes(m).unwrap_or_else(|_| {
        let i = m.first().copied().unwrap_or(0) as usize % METHODS.len();
        Method::from_bytes(METHODS[i].as_bytes()).expect("valid method")
    });

    let r = route(&method, &path, &query, body);
    if let Err(e) = &r {
        assert!((400..=599).contains(&e.status), "status {}", e.status);
        assert!(!e.message.trim().is_empty());
        if e.status == 501 {
            assert!(
                e.message.contains("not implemented by berth"),
                "{}",
                e.message
            );
        }
    }
    if path.starts_with('/') && strip_version(&path) == path {
        let r2 = route(&method, &format!("/v1.47{path}"), &query, body);
        assert_eq!(kind(&r), kind(&r2), "the /v1.47 prefix changed the outcome");
    }
});
