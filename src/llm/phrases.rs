//! The offline responder's sentences, in English and Spanish, so it answers a customer in the
//! language they write in (`domain::language`) with the same facts.
//!
//! Templates hold `{placeholders}` that [`fill`] replaces; both languages have exactly the
//! same ones (a test checks). The Spanish is Latin-American neutral, in the "tú" register.
//!
//! **GSM-7.** A reply with one character outside GSM 03.38's basic and extension sets is sent
//! as UCS-2, which holds 70 characters a segment instead of 160 (`domain::segments`). Of
//! Spanish's letters the basic set has é, ñ, ü, ¿ and ¡, but not á, í, ó, ú: those are in
//! 3GPP TS 23.038's Spanish national shift table, which US carriers and Twilio do not use. So
//! every Spanish phrase here is worded to do without á, í, ó and ú where that reads naturally
//! ("Claro" for "Sí", "entregas" for "envíos", "teléfono" for "número", "El de menor precio"
//! for "El más barato", "Estado de tu pedido…:" for "Tu último pedido está…"), and a test keeps
//! them all GSM-7. The product titles and facts filled in are the store's, in English.

use crate::domain::language::Language;

/// One language's sentences; see the English ones for each field's meaning and placeholders.
#[derive(Debug)]
pub struct Phrases {
    /// `{name}` is " Maya" or empty.
    pub greeting: &'static str,
    /// `{name}` is " Maya" or empty.
    pub thanks: &'static str,
    /// The customer's latest order: `{id}`, `{date}`, `{count}`, `{items}`, `{status}`.
    pub order_latest: &'static str,
    /// An order the customer named by number: `{id}`, `{date}`, `{count}`, `{items}`, `{status}`.
    pub order_named: &'static str,
    /// What an order holds: `{id}`, `{date}`, `{items}` (a list of products).
    pub order_contents: &'static str,
    /// An order number not found for this phone: `{id}`.
    pub order_unknown_number: &'static str,
    /// No order at all for this phone.
    pub no_order: &'static str,
    /// A shipment's tracking number: `{number}`, `{carrier}` (" (UPS)" or empty).
    pub tracking: &'static str,
    /// The carrier's tracking page: `{url}`.
    pub track_at: &'static str,
    /// A delivered order: `{date}`.
    pub delivered_on: &'static str,
    /// The carrier's estimate: `{date}`.
    pub expected_by: &'static str,
    /// `{items}` for a count of one.
    pub item: &'static str,
    /// `{items}` for any other count.
    pub items: &'static str,
    /// `{product}` is a filled [`Phrases::product_for`] or [`Phrases::product_on_sale`].
    pub we_have: &'static str,
    /// Appended after `we_have`, with its leading space.
    pub also: &'static str,
    /// A product and its price: `{title}`, `{sku}`, `{price}`.
    pub product_for: &'static str,
    /// A product on sale: `{title}`, `{sku}`, `{sale}`, `{price}`.
    pub product_on_sale: &'static str,
    /// Appended to a product: it can be bought now.
    pub in_stock: &'static str,
    /// Appended to a product: it cannot.
    pub out_of_stock: &'static str,
    /// Appended to a product with none in stock that can still be ordered (Shopify's
    /// "continue selling when out of stock").
    pub orderable: &'static str,
    /// The same, as a sentence: `{title}`, `{sku}`.
    pub stock_orderable: &'static str,
    /// Appended to a product: `{sizes}`.
    pub in_sizes: &'static str,
    /// `{title}`, `{sku}`, `{price}`.
    pub price_is: &'static str,
    /// `{title}`, `{sku}`, `{sale}`, `{price}`.
    pub price_on_sale: &'static str,
    /// `{title}`, `{sku}`, `{size}`.
    pub size_yes: &'static str,
    /// `{title}`, `{sku}`, `{sizes}`, `{size}`.
    pub size_not_offered: &'static str,
    /// `{title}`, `{sizes}`: the sizes of the product a fit question is about.
    pub fit_sizes: &'static str,
    /// `{title}`, `{sku}`.
    pub size_sold_out: &'static str,
    /// `{title}`, `{sku}`.
    pub stock_yes: &'static str,
    /// A product without sizes asked about a size: `{title}`, `{sku}`.
    pub one_size: &'static str,
    /// `{name}` (a product), `{colours}`.
    pub colours: &'static str,
    /// `{name}` (a product), `{colour}`, `{colours}`.
    pub colour_missing: &'static str,
    /// `{product}`.
    pub cheapest: &'static str,
    /// `{product}`.
    pub dearest: &'static str,
    /// `{owned}` (a filled [`Phrases::purchase`]), `{product}`.
    pub complement: &'static str,
    /// What the customer bought, as a complement names it: `{name}` (lower case, without its
    /// colour), `{month}` (from [`Phrases::months`]).
    pub purchase: &'static str,
    /// The same without the month, when the reply has no room for it: `{name}`.
    pub purchase_undated: &'static str,
    /// Appended to a product that goes with a purchase (offered unasked): `{owned}`.
    pub goes_with: &'static str,
    /// Two or more products at one price: `{names}`, `{price}`.
    pub same_price: &'static str,
    /// The months, January first (for [`Phrases::purchase`]).
    pub months: [&'static str; 12],
    /// A question back when the customer has not said what kind of thing they want.
    pub what_kind: &'static str,
    /// The disclosure, when asked who answers.
    pub about_bot: &'static str,
    /// A redirect for what the store cannot help with.
    pub small_talk: &'static str,
    /// Before a person takes over.
    pub handoff: &'static str,
    /// The last joint of a list ("red, blue and black").
    pub and: &'static str,
    /// A text the brand starts (a flow's compose step) begins so: `{name}` is " Maya" or empty.
    pub compose_lead: &'static str,
    /// ... and ends so, when there is room.
    pub compose_close: &'static str,
}

impl Phrases {
    /// Every field as (name, template), in declaration order: for tests and tools that treat
    /// the phrases as data.
    pub fn fields(&self) -> [(&'static str, &'static str); 46] {
        [
            ("greeting", self.greeting),
            ("compose_lead", self.compose_lead),
            ("compose_close", self.compose_close),
            ("thanks", self.thanks),
            ("order_latest", self.order_latest),
            ("order_named", self.order_named),
            ("order_contents", self.order_contents),
            ("order_unknown_number", self.order_unknown_number),
            ("no_order", self.no_order),
            ("tracking", self.tracking),
            ("track_at", self.track_at),
            ("delivered_on", self.delivered_on),
            ("expected_by", self.expected_by),
            ("item", self.item),
            ("items", self.items),
            ("we_have", self.we_have),
            ("also", self.also),
            ("product_for", self.product_for),
            ("product_on_sale", self.product_on_sale),
            ("in_stock", self.in_stock),
            ("out_of_stock", self.out_of_stock),
            ("orderable", self.orderable),
            ("stock_orderable", self.stock_orderable),
            ("in_sizes", self.in_sizes),
            ("price_is", self.price_is),
            ("price_on_sale", self.price_on_sale),
            ("size_yes", self.size_yes),
            ("size_not_offered", self.size_not_offered),
            ("fit_sizes", self.fit_sizes),
            ("size_sold_out", self.size_sold_out),
            ("stock_yes", self.stock_yes),
            ("one_size", self.one_size),
            ("colours", self.colours),
            ("colour_missing", self.colour_missing),
            ("cheapest", self.cheapest),
            ("dearest", self.dearest),
            ("complement", self.complement),
            ("purchase", self.purchase),
            ("purchase_undated", self.purchase_undated),
            ("goes_with", self.goes_with),
            ("same_price", self.same_price),
            ("what_kind", self.what_kind),
            ("about_bot", self.about_bot),
            ("small_talk", self.small_talk),
            ("handoff", self.handoff),
            ("and", self.and),
        ]
    }
}

const ENGLISH: Phrases = Phrases {
    greeting: "Hi{name}! I can help with products, sizes, shipping, returns and your orders. What are you looking for?",
    thanks: "You're welcome{name}! Anything else I can help with?",
    order_latest: "Your latest order {id} from {date} ({count} {items}) is {status}.",
    order_named: "Order {id} from {date} ({count} {items}) is {status}.",
    order_contents: "Order {id} from {date} has {items}.",
    order_unknown_number: "I couldn't find order {id} for this number. A teammate will look it up for you.",
    no_order: "I couldn't find an order for this number. A teammate will look it up for you.",
    tracking: "Tracking number {number}{carrier}.",
    track_at: "Track it at {url}",
    delivered_on: "It was delivered on {date}.",
    expected_by: "The carrier expects it by {date}.",
    item: "item",
    items: "items",
    we_have: "We have {product}.",
    also: " Also {product}.",
    product_for: "{title} ({sku}) for {price}",
    product_on_sale: "{title} ({sku}) on sale for {sale} (was {price})",
    in_stock: "in stock",
    out_of_stock: "out of stock right now",
    orderable: "out of stock but can still be ordered",
    stock_orderable: "{title} ({sku}) is out of stock but can still be ordered.",
    in_sizes: "in sizes {sizes}",
    price_is: "{title} ({sku}) is {price}.",
    price_on_sale: "{title} ({sku}) is on sale for {sale} (was {price}).",
    size_yes: "Yes, {title} ({sku}) comes in size {size} and is in stock.",
    size_not_offered: "{title} ({sku}) comes in sizes {sizes}, not {size}.",
    fit_sizes: "{title} comes in sizes {sizes}.",
    size_sold_out: "{title} ({sku}) is out of stock right now.",
    stock_yes: "Yes, {title} ({sku}) is in stock.",
    one_size: "{title} ({sku}) comes in one size.",
    colours: "{name} comes in {colours}.",
    colour_missing: "We don't have {name} in {colour}; it comes in {colours}.",
    cheapest: "The cheapest is {product}.",
    dearest: "The most expensive is {product}.",
    complement: "To go with {owned}: {product}.",
    purchase: "the {name} you bought in {month}",
    purchase_undated: "the {name} you bought",
    goes_with: " It goes with {owned}.",
    same_price: "They're the same price: {names} are {price} each.",
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    what_kind: "Happy to help! What kind of thing are you looking for: clothing, shoes, a bag or an accessory?",
    about_bot: "I'm an AI assistant; a person from our team can take over anytime, just ask.",
    small_talk: "I can't help with that, but I can with products, sizes, shipping, returns and orders.",
    handoff: "Let me get a teammate to help with that.",
    and: "and",
    compose_lead: "Hi{name},",
    compose_close: "Reply with any question.",
};

const SPANISH: Phrases = Phrases {
    greeting: "¡Hola{name}! Te ayudo con productos, tallas, entregas, devoluciones y tus pedidos. ¿Qué buscas?",
    thanks: "¡De nada{name}! ¿Te ayudo con otra cosa?",
    order_latest: "Estado de tu pedido reciente {id} del {date} ({count} {items}): {status}.",
    order_named: "Estado del pedido {id} del {date} ({count} {items}): {status}.",
    order_contents: "El pedido {id} del {date} tiene {items}.",
    order_unknown_number: "No encontré el pedido {id} para este teléfono. Alguien del equipo lo va a revisar por ti.",
    no_order: "No encontré pedidos para este teléfono. Alguien del equipo lo va a revisar por ti.",
    tracking: "Seguimiento: {number}{carrier}.",
    track_at: "Puedes seguirlo en {url}",
    delivered_on: "Fue entregado el {date}.",
    expected_by: "La transportista lo espera para el {date}.",
    item: "producto",
    items: "productos",
    we_have: "Tenemos {product}.",
    also: " También {product}.",
    product_for: "{title} ({sku}) a {price}",
    product_on_sale: "{title} ({sku}) en oferta a {sale} (antes {price})",
    in_stock: "en stock",
    out_of_stock: "sin stock por ahora",
    orderable: "sin stock, pero puedes encargarlo",
    stock_orderable: "{title} ({sku}) no tiene stock, pero puedes encargarlo.",
    in_sizes: "en tallas {sizes}",
    price_is: "{title} ({sku}) cuesta {price}.",
    price_on_sale: "{title} ({sku}) cuesta {sale} en oferta (antes {price}).",
    size_yes: "Claro, {title} ({sku}) viene en talla {size} y hay stock.",
    size_not_offered: "{title} ({sku}) viene en tallas {sizes}, no en {size}.",
    fit_sizes: "{title} viene en tallas {sizes}.",
    size_sold_out: "{title} ({sku}) no tiene stock por ahora.",
    stock_yes: "Claro, hay stock de {title} ({sku}).",
    one_size: "{title} ({sku}) viene en un solo tamaño.",
    colours: "{name} viene en {colours}.",
    colour_missing: "No tenemos {name} en {colour}; viene en {colours}.",
    cheapest: "El de menor precio es {product}.",
    dearest: "El de mayor precio es {product}.",
    complement: "Para combinar con {owned}: {product}.",
    purchase: "tu {name} de {month}",
    purchase_undated: "tu {name}",
    goes_with: " Combina con {owned}.",
    same_price: "Cuestan lo mismo: {names}, {price} cada uno.",
    months: [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    what_kind: "¡Con gusto! ¿Qué buscas: ropa, zapatos, un bolso o un accesorio?",
    about_bot: "Soy un asistente de IA; una persona del equipo puede atenderte cuando quieras, solo dime.",
    small_talk: "Con eso no puedo ayudarte, pero te ayudo con productos, tallas, entregas, devoluciones y pedidos.",
    handoff: "Le pido a alguien del equipo que te ayude con esto.",
    and: "y",
    compose_lead: "Hola{name},",
    compose_close: "Responde con cualquier pregunta.",
};

/// The sentences for a language.
pub fn phrases(lang: Language) -> &'static Phrases {
    match lang {
        Language::En => &ENGLISH,
        Language::Es => &SPANISH,
    }
}

/// Replaces each `{key}` in `template` with its value (unknown keys stay as they are).
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let key = &after[..close];
        match values.iter().find(|(k, _)| *k == key) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Order statuses (the demo store's and Shopify's) in Spanish.
const STATUSES_ES: &[(&str, &str)] = &[
    ("processing", "en proceso"),
    ("pending", "pendiente"),
    ("paid", "pagado"),
    ("unfulfilled", "en proceso"),
    ("partially_fulfilled", "enviado en parte"),
    ("partially fulfilled", "enviado en parte"),
    ("fulfilled", "enviado"),
    ("shipped", "enviado"),
    ("in transit", "en camino"),
    ("in_transit", "en camino"),
    ("out for delivery", "en reparto"),
    ("delivered", "entregado"),
    ("cancelled", "cancelado"),
    ("canceled", "cancelado"),
    ("returned", "devuelto"),
    ("refunded", "reembolsado"),
    ("on hold", "en espera"),
    ("on_hold", "en espera"),
];

/// An order status word in the language ("shipped" → "enviado"); unknown words unchanged.
pub fn order_status(lang: Language, status: &str) -> String {
    if lang == Language::Es {
        let key = status.trim().to_lowercase();
        if let Some((_, es)) = STATUSES_ES.iter().find(|(en, _)| *en == key) {
            return es.to_string();
        }
    }
    status.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::segments::{count_segments, is_gsm7};

    /// The `{keys}` of a template, sorted.
    fn placeholders(template: &str) -> Vec<&str> {
        let mut keys: Vec<&str> =
            template.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(k, _)| k)).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn each_spanish_phrase_keeps_its_english_twins_placeholders() {
        let (en, es) = (phrases(Language::En).fields(), phrases(Language::Es).fields());
        for ((name, english), (es_name, spanish)) in en.iter().zip(es.iter()) {
            assert_eq!(name, es_name);
            assert_eq!(placeholders(english), placeholders(spanish), "{name}");
            assert!(!spanish.is_empty(), "{name}");
        }
        assert_eq!(placeholders(phrases(Language::En).order_named), ["count", "date", "id", "items", "status"]);
    }

    #[test]
    fn spanish_phrases_stay_in_gsm7() {
        for (name, spanish) in phrases(Language::Es).fields() {
            assert!(is_gsm7(spanish), "{name}: {spanish}");
        }
    }

    #[test]
    fn fill_replaces_known_keys_and_keeps_unknown_ones() {
        assert_eq!(fill("Hi{name}! {x}", &[("name", " Maya")]), "Hi Maya! {x}");
        assert_eq!(fill("{a}{a} {b", &[("a", "1")]), "11 {b");
        assert_eq!(fill("no keys", &[("a", "1")]), "no keys");
        assert_eq!(fill("{price}", &[("price", "$5.95 {name}"), ("name", "x")]), "$5.95 {name}");
    }

    #[test]
    fn order_statuses_read_in_spanish() {
        assert_eq!(order_status(Language::Es, "shipped"), "enviado");
        assert_eq!(order_status(Language::Es, "Delivered"), "entregado");
        assert_eq!(order_status(Language::Es, "processing"), "en proceso");
        assert_eq!(order_status(Language::Es, "lost at sea"), "lost at sea");
        assert_eq!(order_status(Language::En, "shipped"), "shipped");
    }

    #[test]
    fn every_filled_phrase_fits_one_segment_with_a_40_character_product() {
        let title = "Cocktail dress / Party dress - dark blue"; // 40 characters
        assert_eq!(title.chars().count(), 40);
        for lang in [Language::En, Language::Es] {
            let p = phrases(lang);
            let product = fill(p.product_for, &[("title", title), ("sku", "ZO0172001720"), ("price", "$120.99")]);
            let on_sale = fill(
                p.product_on_sale,
                &[("title", title), ("sku", "ZO0172001720"), ("sale", "$99.99"), ("price", "$120.99")],
            );
            let status = order_status(lang, "delivered");
            let values: &[(&str, &str)] = &[
                ("name", " Maya"),
                ("id", "583233"),
                ("date", "2024-06-12"),
                ("count", "3"),
                ("items", p.items),
                ("status", &status),
                ("product", &product),
                ("title", title),
                ("sku", "ZO0172001720"),
                ("price", "$120.99"),
                ("sale", "$99.99"),
                ("size", "XL"),
                ("sizes", "S, M, L and XL"),
                ("colours", "red, dark blue and black"),
                ("colour", "green"),
                ("owned", "the pencil skirt you bought in September"),
                ("month", "September"),
                ("names", "Blazer - white (ZO0181901819) and Blazer - coral (ZO0182101821)"),
                ("number", "1Z999AA10123456784"),
                ("carrier", " (UPS)"),
                ("url", "https://www.ups.com/track?tracknum=1Z999AA10123456784"),
            ];
            for (name, template) in p.fields() {
                let text = fill(template, values);
                assert!(!text.contains('{'), "{name}: {text}");
                assert_eq!(count_segments(&text).segments, 1, "{name}: {text}");
            }
            let with_sale = fill(p.we_have, &[("product", &on_sale)]);
            assert_eq!(count_segments(&with_sale).segments, 1, "{with_sale}");
        }
    }
}
