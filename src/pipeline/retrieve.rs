//! Stage 3, retrieve: what the message asks, read with the thread, and the products and
//! policies that answer it. Facts (price, stock) come from SQL, never from the index.
//!
//! In order:
//! 1. understand the message (price bounds, colours, sizes, audience; a follow-up with no
//!    product words of its own searches the thread's product words);
//! 2. resolve references against the dialogue state ("how much is it?", "the first one",
//!    "the black one" → the products the bot offered);
//! 3. find products: the referred ones (with their colour siblings for "what other
//!    colours?"); or every match sorted by price for "the cheapest"; or complements of the
//!    customer's purchases, fused BM25 and vector hits, and quoted skus first;
//! 4. note which products go with something the customer bought, and why.

use std::collections::HashMap;

use super::Deps;
use crate::catalog::fusion;
use crate::catalog::query::{self, Understood};
use crate::catalog::{DocKind, Hit, ProductFilter, SearchIndex};
use crate::crm::{self, Purchase};
use crate::domain::dialogue::{self, Ask, Asked, Attributes, OrderAsk};
use crate::domain::facts::{ComplementFact, Facts, PolicyFact, ProductFact};
use crate::domain::language::Language;
use crate::domain::{Money, intent};
use crate::store::catalog;

/// Purchases whose complements are looked up, newest first.
const PURCHASES_CONSIDERED: usize = 12;
/// Matches compared for "the cheapest" (a category of the catalog, not all of it).
const PRICE_SORT_CANDIDATES: usize = 300;

/// What the customer's message asks of the catalog. A message with no product words of its
/// own ("in red?", "how much?") searches the thread's product words (the dialogue state's,
/// else the customer's previous message) and keeps the thread's colour, size, audience and
/// budget unless it restates them.
fn understand(facts: &Facts) -> Understood {
    let state = &facts.dialogue;
    let previous = if state.query.is_empty() {
        facts.history.iter().rev().find(|h| h.from_customer).map(|h| h.body.clone())
    } else {
        Some(state.query.clone())
    };
    let mut u = query::understand(&facts.message, previous.as_deref());
    // The answer to "what kind of thing?" ("maybe a scarf") keeps what was said before it
    // ("for my wife", "under $30").
    let answers_kind = state.open_question.as_deref() == Some("what_kind");
    if u.carried_over || answers_kind {
        u.wants_complements |= u.carried_over && state.complements;
        let (now, then) = (&mut u.filter, &state.attributes);
        if now.colors.is_empty() && now.exclude_colors.is_empty() {
            now.colors = then.colours.clone();
        }
        if now.sizes.is_empty() {
            now.sizes = then.sizes.clone();
        }
        if now.category_terms.is_empty()
            && let Some(audience) = &then.audience
        {
            now.category_terms = vec![audience.clone()];
        }
        if now.max_price_cents.is_none() && now.min_price_cents.is_none() {
            now.max_price_cents = then.max_price_cents;
            now.min_price_cents = then.min_price_cents;
        }
    }
    u
}

/// What the message itself states (for the dialogue state after the turn).
fn stated(u: &Understood) -> Attributes {
    Attributes {
        colours: u.filter.colors.clone(),
        sizes: u.filter.sizes.clone(),
        max_price_cents: u.filter.max_price_cents,
        min_price_cents: u.filter.min_price_cents,
        audience: u.filter.category_terms.first().cloned(),
    }
}

/// The products with these skus as facts, in the order of `hits` (skus no longer in the
/// SQL catalog are skipped).
async fn product_facts(deps: &Deps, hits: &[Hit]) -> anyhow::Result<Vec<ProductFact>> {
    let skus: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
    let rows = catalog::products_by_sku(&deps.db, &skus).await?;
    Ok(hits
        .iter()
        .filter_map(|hit| rows.iter().find(|p| p.sku.as_str() == hit.id).map(|p| (p.clone(), hit)))
        .map(|(p, hit)| ProductFact {
            price: Money::usd_cents(p.price_cents),
            sale_price: p.sale_price_cents.map(Money::usd_cents),
            colors: serde_json::from_str(&p.colors).unwrap_or_default(),
            sizes: serde_json::from_str(&p.sizes).unwrap_or_default(),
            sku: p.sku,
            title: p.title,
            brand: p.brand,
            category: p.category,
            stock: p.stock,
            score: hit.score,
            variants: crate::catalog::records::variant_facts(&p.variants),
        })
        .collect())
}

fn hits_of(skus: &[String], score: f32) -> Vec<Hit> {
    skus.iter().map(|id| Hit { id: id.clone(), score }).collect()
}

/// What goes with the customer's purchases, best first, each with the purchase it goes with
/// best: with the purchases the message names ("the skirt I bought") when it names any,
/// else with all of them. Nothing the customer already has.
async fn complements(deps: &Deps, bought: &[Purchase], u: &Understood) -> anyhow::Result<Vec<(String, f64, Purchase)>> {
    let named = named_purchases(bought, u);
    let of: Vec<&Purchase> = if named.is_empty() { bought.iter().collect() } else { named };
    let mut best: HashMap<String, (f64, f64, &Purchase)> = HashMap::new();
    for purchase in of.into_iter().take(PURCHASES_CONSIDERED) {
        for (sku, weight) in catalog::complements_of(&deps.db, &[purchase.item.sku.as_str().to_owned()]).await? {
            let entry = best.entry(sku).or_insert((0.0, 0.0, purchase));
            entry.0 += weight;
            if weight > entry.1 {
                (entry.1, entry.2) = (weight, purchase);
            }
        }
    }
    let owned = |sku: &str| bought.iter().any(|p| p.item.sku.as_str() == sku);
    let mut ranked: Vec<(String, f64, Purchase)> =
        best.into_iter().filter(|(sku, _)| !owned(sku)).map(|(sku, (w, _, p))| (sku, w, p.clone())).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(ranked)
}

/// The purchases the message names by a word of their title ("the skirt I bought").
fn named_purchases<'a>(bought: &'a [Purchase], u: &Understood) -> Vec<&'a Purchase> {
    let words: Vec<String> = u.text.split_whitespace().map(|w| w.trim_end_matches('s').to_lowercase()).collect();
    let names = |p: &&Purchase| {
        p.item
            .title
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .any(|t| !t.is_empty() && words.contains(&t.trim_end_matches('s').to_string()))
    };
    bought.iter().filter(names).collect()
}

/// The complements that pass the message's filters, those matching its product words first
/// (only those, with `only_matching`, when any does), then in complement order (at most `k`).
fn complement_hits(
    index: &SearchIndex,
    u: &Understood,
    complements: &[(String, f64, Purchase)],
    k: usize,
    only_matching: bool,
) -> anyhow::Result<Vec<Hit>> {
    if complements.is_empty() {
        return Ok(vec![]);
    }
    let candidates: Vec<String> = complements.iter().take(50).map(|(sku, ..)| sku.clone()).collect();
    let filter = ProductFilter { only_skus: candidates.clone(), ..u.filter.clone() };
    // The message's product words rank within the complements ("a red blouse that goes with
    // the skirt": blouses first), then the complement weight.
    let words: Vec<&str> = u.text.split_whitespace().collect();
    let found = index.search_products("", &filter, candidates.len())?;
    let matching = if words.is_empty() { vec![] } else { index.search_products(&u.text, &filter, candidates.len())? };
    let mut hits: Vec<Hit> = complements
        .iter()
        .filter(|(sku, ..)| found.iter().any(|h| &h.id == sku))
        .map(|(sku, weight, _)| Hit { id: sku.clone(), score: *weight as f32 })
        .collect();
    hits.sort_by_key(|h| !matching.iter().any(|m| m.id == h.id));
    if only_matching && !matching.is_empty() {
        hits.retain(|h| matching.iter().any(|m| m.id == h.id));
    }
    hits.truncate(k);
    Ok(hits)
}

/// The products nearest to the message's words by meaning, within its filters; none without
/// an embedding endpoint, and none (logged) when the endpoint fails: BM25 still answers.
async fn semantic_hits(deps: &Deps, u: &Understood) -> Vec<Hit> {
    let Some(semantic) = deps.semantic.clone() else { return vec![] };
    let allowed = if u.filter.is_empty() {
        None
    } else {
        let (index, filter) = (deps.index.clone(), u.filter.clone());
        match tokio::task::spawn_blocking(move || index.search_products("", &filter, 100_000)).await {
            Ok(Ok(hits)) => Some(hits.into_iter().map(|h| h.id).collect::<std::collections::HashSet<_>>()),
            _ => return vec![],
        }
    };
    match semantic.search(&u.text, 50, allowed.as_ref()).await {
        Ok(hits) => hits,
        Err(e) => {
            tracing::warn!(error = %e, "vector search failed; BM25 alone for this turn");
            vec![]
        }
    }
}

/// Products for an understood message. When an attribute filter (colour, size) leaves
/// nothing, the same words are searched without it, so the reply can offer what there is
/// (the facts carry every product's real colours and sizes).
fn search_products(index: &SearchIndex, u: &Understood, k: usize) -> anyhow::Result<Vec<Hit>> {
    let hits = index.search_products(&u.text, &u.filter, k)?;
    if !hits.is_empty() || (u.filter.colors.is_empty() && u.filter.sizes.is_empty()) {
        return Ok(hits);
    }
    let relaxed = ProductFilter { colors: vec![], sizes: vec![], ..u.filter.clone() };
    index.search_products(&u.text, &relaxed, k)
}

/// Runs a blocking index search off the async threads (tantivy searches are CPU work).
async fn blocking<T: Send + 'static>(
    deps: &Deps,
    f: impl FnOnce(&SearchIndex) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let index = deps.index.clone();
    tokio::task::spawn_blocking(move || f(&index)).await?
}

/// "What other colours?": the products sharing the referred product's name ("Cardigan - …").
async fn colour_siblings(deps: &Deps, of: &ProductFact) -> anyhow::Result<Vec<ProductFact>> {
    let base = dialogue::base_title(&of.title).to_string();
    let text = base.clone();
    let hits = blocking(deps, move |index| index.search_products(&text, &ProductFilter::default(), 100)).await?;
    let mut siblings = product_facts(deps, &hits).await?;
    siblings.retain(|p| p.sku != of.sku && dialogue::base_title(&p.title).eq_ignore_ascii_case(&base));
    // In stock first: those are the colours worth offering.
    siblings.sort_by_key(|p| !p.available());
    Ok(siblings)
}

/// "The cheapest dress?": every product that matches the words as well as the best match
/// does, in stock first, sorted by the price paid now.
async fn by_price(deps: &Deps, u: &Understood, ask: &Ask, k: usize) -> anyhow::Result<Vec<ProductFact>> {
    let (text, filter) = (u.text.clone(), u.filter.clone());
    let hits = blocking(deps, move |index| index.search_products(&text, &filter, PRICE_SORT_CANDIDATES)).await?;
    let mut found = product_facts(deps, &hits).await?;
    let words: Vec<String> = u.text.split_whitespace().map(str::to_string).collect();
    if !words.is_empty() {
        let best = found.iter().map(|p| intent::coverage(&words, p)).fold(0.0, f64::max);
        found.retain(|p| intent::coverage(&words, p) >= best);
    }
    sort_by_price(&mut found, ask, k);
    Ok(found)
}

/// The `k` cheapest (or dearest) of `found`, only those in stock when any is.
fn sort_by_price(found: &mut Vec<ProductFact>, ask: &Ask, k: usize) {
    if found.iter().any(|p| p.available()) {
        found.retain(|p| p.available());
    }
    found.sort_by_key(|p| p.price_now().cents);
    if *ask == Ask::Dearest {
        found.reverse();
    }
    found.truncate(k);
}

/// The usual search: complements of past purchases (when asked for), fused BM25 and vector
/// hits, and skus the customer quotes first, taken literally ("is ZO0059900599 in stock?" is
/// about that one, sold out or not).
async fn search(
    deps: &Deps,
    facts: &Facts,
    u: &Understood,
    complements: &[(String, f64, Purchase)],
    exclude: &[String],
) -> anyhow::Result<Vec<ProductFact>> {
    let k = deps.config.pipeline.retrieve_products;
    let vector_hits = semantic_hits(deps, u).await;
    let (u2, wanted) = (u.clone(), if u.wants_complements { complements.to_vec() } else { vec![] });
    let (skip, excluded) = (exclude.to_vec(), exclude.len());
    let mut hits = blocking(deps, move |index| {
        let mut hits = complement_hits(index, &u2, &wanted, k, false)?;
        let mut bm25 = search_products(index, &u2, if vector_hits.is_empty() { k + excluded } else { 50 })?;
        bm25.retain(|h| !skip.contains(&h.id));
        for hit in fusion::fuse(bm25, vector_hits, k) {
            if hits.len() < k && !hits.iter().any(|h| h.id == hit.id) {
                hits.push(hit);
            }
        }
        Ok(hits)
    })
    .await?;
    let quoted = catalog::products_by_sku(&deps.db, &query::sku_mentions(&facts.message)).await?;
    let top_score = hits.first().map_or(1.0, |h| h.score);
    for p in quoted.iter().rev() {
        hits.retain(|h| h.id != p.sku.as_str());
        hits.insert(0, Hit { id: p.sku.as_str().to_string(), score: top_score });
    }
    hits.truncate(k.max(quoted.len()));
    product_facts(deps, &hits).await
}

/// Stage 3, retrieve: fills `asked`, `products`, `complements` and `policies`.
pub async fn retrieve(deps: &Deps, mut facts: Facts) -> anyhow::Result<Facts> {
    let mut u = understand(&facts);
    // What the message itself says, apart from the thread.
    let own = query::understand(&facts.message, None);
    // The message's own product words as written (the catalog's synonyms are the search's).
    let own_words = if u.carried_over { vec![] } else { u.product_words.clone() };
    let ask = dialogue::ask_of(&facts.message, &own.filter.colors, &own.filter.sizes);
    let focus = product_facts(deps, &hits_of(&facts.dialogue.focus_skus(), 1.0)).await?;
    let reference = dialogue::resolve(&facts.message, &own_words, &own.filter.colors, &ask, &focus);
    // Purchases matter for "what goes with…" and for saying a product goes with one.
    let bought = if u.wants_complements || !facts.orders.is_empty() {
        crm::purchased_items(&deps.db, &facts.phone).await?
    } else {
        vec![]
    };
    let mut exclude: Vec<String> = vec![];
    if u.wants_complements {
        // "my black cardigan": the colour describes what they own, not what they want; and
        // nothing they already have is suggested.
        let named = named_purchases(&bought, &u);
        u.filter.colors.retain(|c| !named.iter().any(|p| p.item.title.to_lowercase().contains(c.as_str())));
        exclude.extend(bought.iter().map(|p| p.item.sku.as_str().to_owned()));
    }
    if dialogue::wants_other(&facts.message) {
        // "another black blouse?": not the one offered.
        exclude.extend(facts.dialogue.focus_skus());
    }
    let complements = if bought.is_empty() { vec![] } else { complements(deps, &bought, &u).await? };
    // An order the text quotes, or the thread's for a follow-up ("when will it arrive?"); a
    // text about a product of the thread is about that product.
    let quoted = intent::order_numbers(&facts.message);
    let quoted_order = facts.orders.iter().find(|o| quoted.iter().any(|n| o.has_number(n))).map(|o| o.id.clone());
    let order_ask = match (&reference, &quoted_order) {
        (Some(_), _) => None,
        (None, Some(_)) => dialogue::order_ask(&facts.message, true).or(Some(OrderAsk::Status)),
        (None, None) => dialogue::order_ask(&facts.message, facts.dialogue.order.is_some()),
    };
    // Else the thread's order, else (a question about "my order") the latest.
    let order = quoted_order
        .or_else(|| order_ask.and(facts.dialogue.order.clone()))
        .or_else(|| order_ask.and(facts.orders.first().map(|o| o.id.clone())));
    // An order question with no product words of its own ("what was in it?") needs no products.
    let about_an_order = own_words.is_empty() && order_ask.is_some();
    facts.products = match &reference {
        None if about_an_order => vec![],
        Some((skus, _)) => {
            // The products referred to are focus products, already read.
            let mut referred: Vec<ProductFact> = focus.iter().filter(|p| skus.contains(&p.sku)).cloned().collect();
            if ask == Ask::Colours
                && let Some(first) = referred.first().cloned()
            {
                referred.extend(colour_siblings(deps, &first).await?);
            }
            referred
        }
        None if matches!(ask, Ask::Cheapest | Ask::Dearest | Ask::Cheaper) && u.wants_complements => {
            // "Which one is cheapest?" after "what goes with the skirt I bought?": the
            // suggestions compared, not everything that matches the words.
            let (u2, wanted) = (u.clone(), complements.clone());
            let hits = blocking(deps, move |index| complement_hits(index, &u2, &wanted, 50, true)).await?;
            let mut found = product_facts(deps, &hits).await?;
            sort_by_price(&mut found, &ask, deps.config.pipeline.retrieve_products);
            found
        }
        None if matches!(ask, Ask::Cheapest | Ask::Dearest | Ask::Cheaper)
            && !(u.text.is_empty() && u.filter.is_empty()) =>
        {
            by_price(deps, &u, &ask, deps.config.pipeline.retrieve_products).await?
        }
        None => search(deps, &facts, &u, &complements, &exclude).await?,
    };
    facts.complements = facts
        .products
        .iter()
        .filter_map(|p| {
            let (_, _, purchase) = complements.iter().find(|(sku, ..)| sku == p.sku.as_str())?;
            Some(ComplementFact {
                sku: p.sku.clone(),
                goes_with: purchase.item.title.clone(),
                bought_on: purchase.bought_on.clone(),
            })
        })
        .collect();
    facts.asked = Asked {
        order,
        order_ask,
        ask,
        refers_to: reference.as_ref().map(|(s, _)| s.clone()).unwrap_or_default(),
        reference: reference.map(|(_, how)| how),
        colours: u.filter.colors.clone(),
        sizes: u.filter.sizes.clone(),
        product_words: u.product_words.clone(),
        wants_complements: u.wants_complements,
        query: u.text.clone(),
        own_words: own_words.join(" "),
        attributes: stated(&own),
    };
    // "When will it arrive?" is answered with the shipping times, whatever its words match.
    let policy_query = match facts.asked.order_ask {
        Some(OrderAsk::Arrival) => format!("{} shipping delivery business days", facts.message),
        // "Does it run small?" is answered by the sizing policy, whatever its words match.
        _ if intent::asks_about_fit(&intent::words(&facts.message)) => format!("{} sizing fit sizes", facts.message),
        _ => facts.message.clone(),
    };
    facts.policies = policies(deps, &policy_query, facts.language).await?;
    Ok(facts)
}

/// A policy's body in `language` from its `translations` JSON, if it has one (never for
/// English: the body is English).
fn translation(translations: &str, language: Language) -> Option<String> {
    if language == Language::En {
        return None;
    }
    let all: serde_json::Value = serde_json::from_str(translations).ok()?;
    all[language.as_str()]["body"].as_str().map(str::to_string)
}

/// The two policies that match the message best, with their text in `language` when the
/// store has it.
async fn policies(deps: &Deps, message: &str, language: Language) -> anyhow::Result<Vec<PolicyFact>> {
    let message = message.to_string();
    let hits = blocking(deps, move |index| index.search(&message, DocKind::Policy, 2)).await?;
    let ids: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
    let rows = catalog::policies_by_id(&deps.db, &ids).await?;
    Ok(hits
        .iter()
        .filter_map(|hit| {
            rows.iter().find(|p| p.id == hit.id).map(|p| PolicyFact {
                id: p.id.clone(),
                title: p.title.clone(),
                body: p.body.clone(),
                translation: translation(&p.translations, language),
                score: hit.score,
            })
        })
        .collect())
}
