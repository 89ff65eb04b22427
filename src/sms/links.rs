//! Tracked links in sent texts (docs/analytics.md, "Tracked links"): each `http(s)` link on
//! the brand's allowed hosts (`brand.link_hosts`) becomes `{public_url}/l/{code}` in the text
//! the provider gets; the outbox row keeps the text as written. A retried send reuses the
//! codes its links already have.

use chrono::Utc;

use crate::domain::links::{links_in, new_code};
use crate::guard::claims::link_allowed;
use crate::store::{Db, links as store};

/// Where short links point and which links are tracked.
#[derive(Debug, Clone)]
pub struct LinkTracking {
    /// `public_url` without its trailing `/`.
    pub base: String,
    /// `brand.link_hosts`: only links on these hosts are tracked.
    pub hosts: Vec<String>,
}

impl LinkTracking {
    /// `body` with its tracked links shortened, for outbox row `outbox_id`.
    pub async fn shorten(&self, db: &Db, outbox_id: i64, body: &str) -> anyhow::Result<String> {
        let links: Vec<_> =
            links_in(body).into_iter().filter(|r| link_allowed(&body[r.clone()], &self.hosts)).collect();
        if links.is_empty() {
            return Ok(body.to_string());
        }
        let known = store::codes_for(db, outbox_id).await?;
        let mut out = String::with_capacity(body.len());
        let mut last = 0;
        for range in links {
            let url = &body[range.clone()];
            let code = match known.iter().find(|(u, _)| u == url) {
                Some((_, code)) => code.clone(),
                None => store::insert_link(db, &new_code(), url, outbox_id, Utc::now()).await?,
            };
            out.push_str(&body[last..range.start]);
            out.push_str(&format!("{}/l/{code}", self.base));
            last = range.end;
        }
        out.push_str(&body[last..]);
        Ok(out)
    }
}
