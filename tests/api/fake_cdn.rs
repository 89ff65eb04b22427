//! A fake image host (a shop's CDN) for product pictures: `GET` and `HEAD` on `/img/{name}`
//! answer with the type and length it was given, as a CDN does, and count the requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::fakes::{RunningServer, lock};

#[derive(Default)]
struct CdnState {
    files: HashMap<String, (String, usize)>,
    requests: usize,
}

pub struct FakeCdn {
    server: RunningServer,
    state: Arc<Mutex<CdnState>>,
}

async fn file(State(state): State<Arc<Mutex<CdnState>>>, Path(name): Path<String>) -> Response {
    let mut s = lock(&state);
    s.requests += 1;
    match s.files.get(&name) {
        Some((kind, size)) => {
            let headers = [(header::CONTENT_TYPE, kind.clone()), (header::CONTENT_LENGTH, size.to_string())];
            (headers, vec![0u8; *size]).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[allow(dead_code)]
impl FakeCdn {
    pub async fn start() -> FakeCdn {
        let state = Arc::new(Mutex::new(CdnState::default()));
        let router = Router::new().route("/img/{name}", get(file)).with_state(Arc::clone(&state));
        FakeCdn { server: RunningServer::start(router).await, state }
    }

    /// Serves `name` as `kind` of `size` bytes; its URL.
    pub fn put(&self, name: &str, kind: &str, size: usize) -> String {
        lock(&self.state).files.insert(name.to_string(), (kind.to_string(), size));
        format!("{}/img/{name}", self.server.url())
    }

    pub fn requests(&self) -> usize {
        lock(&self.state).requests
    }
}
