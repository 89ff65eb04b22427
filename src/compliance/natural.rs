//! Natural-language opt-out: "please stop texting me", "take me off your list", "BAJA".
//!
//! The FCC's 2024 order (FCC 24-24, 47 CFR 64.1200(a)(10)) lets consumers revoke consent "by
//! any reasonable means"; Twilio and most providers only catch single keywords. This module
//! catches the rest with rules over a normalised text, chosen because every decision names
//! the rule that fired (explainable to an auditor and a reviewer) and a message takes
//! microseconds. What the rules do not know goes to the learned model in `model.rs`, unless
//! an exclusion here recognised the text as something else (`NlVerdict::NotOptOut`).
//!
//! Method:
//! 1. **Normalise**: lower case, accents folded, apostrophes dropped ("don't" → "dont"),
//!    punctuation and emoji to spaces, SMS spellings mapped to one word ("pls"/"plz" →
//!    "please", "txt"/"texting"/"msgs" → "text"/"message", "stopp"/"st0p" → "stop",
//!    "mensajes" → "mensaje", "désabonner" → "unsubscribe").
//! 2. **Clear opt-outs**: a stop verb followed closely by a contact noun ("stop texting me",
//!    "please stop sending me promotional texts"); a negated contact verb with an object
//!    ("don't text me"); removal ("remove me", "take me off", "off your list"); unsubscribe or
//!    opt out; "no more messages"; "I don't want these messages"; "wrong number", "not my
//!    number"; "leave me alone"; "I never signed up"; revoking consent; "I said stop"; a last
//!    clause that is only "stop" ("too many texts, please stop"); a message that is only
//!    "stop" and politeness ("stop please!!"); Spanish, French and Portuguese equivalents.
//! 3. **Hard negatives by construction**: a stop verb needs a contact noun within five words
//!    ("I'll stop by the store", "stop the order" do not match); a negation just before the
//!    trigger cancels it ("don't stop the deals", "don't remove me from the list"); "cancel"
//!    counts only with subscription/texts ("cancel my order" is an order request);
//!    unsubscribe about e-mail or about getting back on is not a text opt-out; laughter
//!    ("OMG stop 😂") turns a bare "stop" into no opt-out; a message that keeps the texts
//!    ("…but keep the texts coming", "texts are fine") is about another channel; "if I
//!    unsubscribe, do I lose my points?" is a question; "why did I stop getting your texts"
//!    has the customer as subject; "dar de baja mi tarjeta" cancels a card, not the texts.
//! 4. **Possible opt-outs**: an opt-out word near a contact word without a clear pattern,
//!    "how do I stop these?", "too many texts", "who is this?", "goodbye", a bare "stop?".
//!    These go to a person (`possible_opt_out`); the number is on hold meanwhile.
//!
//! Measured by `backtalk compliance measure` on `eval/optout/labelled.tsv` (written blind to
//! these rules) and on the 4,827 real "ham" texts of the SMS Spam Collection.
//!
//! Over 600 lines: the phrase tables are the rules, and an auditor reads them here beside
//! the matcher that applies them and the tests that pin each one (a third of the file).

use std::sync::OnceLock;

use regex::{Regex, RegexSet};

/// What the natural-language check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NlVerdict {
    /// A clear request to stop; the rule that matched.
    OptOut(&'static str),
    /// Might be an opt-out; a person decides.
    Possible(&'static str),
    /// Recognised as something else ("resubscribe me", "…but keep the texts"): the learned
    /// model is not asked.
    NotOptOut(&'static str),
    /// Not an opt-out.
    None,
}

/// Clear opt-out rules over the normalised text: (name, pattern, a negation just before the
/// match cancels it).
const OPT_OUT_RULES: &[(&str, &str, bool)] = &[
    (
        "do_not_contact",
        r"\b(dont|do not|never|please dont)\s+(ever\s+)?(text|message|contact|call|sms|email or text)\s+(me|us|this number|again|anymore|here|ever)\b",
        false,
    ),
    (
        "do_not_send",
        r"\b(dont|do not|never)\s+(send|sending)\s+(me|us)\s+((any|more|these|your|the)\s+)*(text|message|promo|spam|ad|ads|offer|deal|coupon)",
        false,
    ),
    (
        "remove_me",
        r"\b(remove|delete|erase|lose|scratch|unlist)\s+(me|us|my (phone |cell )?number|my name|my info|my contact|this number)\b",
        true,
    ),
    (
        "not_my_number",
        r"\b(not|isnt|no longer|aint)\s+(my|his|her|their)\s+(phone |cell )?number\b|\bbelongs to (someone|somebody) else\b|\b(not|no longer)\s+(the|this)\s+(persons|person s)?\s*number\b",
        false,
    ),
    (
        "remove_the_texts",
        r"\b(remove|delete|drop)\s+((the|your|these|those|all|all the|all your)\s+)?(promos|promo|text|message|ads|alerts|notifications|marketing)\b",
        true,
    ),
    ("block_you", r"\b(block|blocking|blocked)\s+(you|u|this number|your number|ur number)\b", false),
    (
        "take_me_off",
        r"\b(take|get|put|cross)\s+(me|us|my (phone |cell )?number|this number|my name)\s+(off|out of (your|ur|the) (system|database|records|contacts|list))\b",
        true,
    ),
    (
        "out_of_your_system",
        r"\b(my (phone |cell )?number|me)\s+(out of|from|off)\s+(your|ur|the)\s+(system|database|records|contacts|contact list)\b|\b(mi numero|me)\s+(de|del)\s+(su|tu)\s+(sistema|base de datos|lista)\b",
        true,
    ),
    // "f off with the spam texts"; not "get this dude to f off" (someone else).
    ("go_away", r"^(\w+\s+){0,2}(f|fuck|eff|piss|buzz|bug)\s+off\b|\b(f|fuck|eff|piss|buzz|bug)\s+off\s+with\b", false),
    ("no_need_to_text", r"\bno (need|reason) to\s+(text|message|contact|sms)\s+(me|us|this number)\b", false),
    (
        "asked_before",
        r"\b(asked|requested|told you|told you guys)\s+(to be\s+|you to\s+|that you\s+|for you to\s+)?(removed|remove me|unsubscribe|taken off|take me off|stop)\b",
        false,
    ),
    ("block_my_number", r"\bblock\s+(my number|me|this number)\b", false),
    (
        "tcpa",
        r"\b(tcpa|fcc|cease)\b.*\b(text|message)|\b(text|message)\b.*\b(tcpa|fcc)\b|\b(text|message)\w*\b.{0,30}\bstop\s*(now|immediately|please|asap)?$",
        false,
    ),
    (
        "off_your_list",
        r"\b(off|from|out of)\s+(your|the|this|ur|these|all)\s+((text|texting|sms|mailing|marketing|contact|message|call|distribution|promo)\s+)?(list|lists|texts|messages|alerts|notifications|promos|updates)\b",
        true,
    ),
    ("unsubscribe", r"\b(unsubscribe|optout)\b", true),
    (
        "dont_want_messages",
        r"\b(dont|do not|no longer)\s+(want|wish|need|like)\s+(to\s+(get|receive|be sent|be texted|be contacted)\s+)?((any|these|your|this|the|those|more|anymore|getting|receiving|such|further)\s+)*(promo\s+|marketing\s+)?(text|message|spam|notification|alert|promo|promotion|ad|ads|marketing)",
        false,
    ),
    (
        "dont_want_anymore",
        r"\b(dont|do not|no longer)\s+(want|wish)\s+to\s+(get|receive|be texted|be contacted|hear from)\b.*\b(anymore|these|this|them|you)\b",
        false,
    ),
    (
        "no_more_messages",
        r"\bno more\s+((of\s+)?(these|your|the|this|this kind of)\s+)?(text|message|spam|promo|promotion|notification|alert|ad|ads|marketing)",
        false,
    ),
    (
        "wrong_number",
        r"\bwrong (number|person|recipient)\b|\bnumero equivocado\b|\bmauvais numero\b|\bnumero errado\b",
        false,
    ),
    ("leave_me_alone", r"\bleave me alone\b|\bleave us alone\b", false),
    (
        "never_signed_up",
        r"\b(never|didnt|did not|dont remember)\s+(signing up|signed up|sign up|subscribed|subscribe|opted in|opt in|gave (you )?my number|agreed to|asked for (this|these|it|them|text|message))\b|\b(nobody|no one)\s+asked for (this|these|your|them)\b|\bnunca\s+(me\s+)?(registre|inscribi|suscribi|pedi|autorice|di mi numero)\b",
        false,
    ),
    (
        "revoke_consent",
        r"\b(revoke|revoking|withdraw|withdrawing|rescind|rescinding|cancel|revocar|revoco|retiro|retirar)\s+(my\s+|all\s+|mi\s+)?(consent|permission|consentimiento|permiso|autorizacion)\b",
        false,
    ),
    (
        "report_spam",
        r"\breport(ing)?\s+(you|this|this number|it)?\s*(as|for|to)?\s*(spam|the fcc|ftc)\b|\bif you dont stop\b",
        false,
    ),
    (
        "said_stop",
        r"\b(said|say|saying|told you|texted|replied|typed|wrote|sent)\s+(stop|unsubscribe|optout|baja)\b",
        false,
    ),
    ("want_out", r"\b(i|we)\s+want\s+out\b|\blet me out\b", false),
    (
        "stop_sending_them",
        r"\b(stop|quit|cease)\s+(sending|texting|messaging|text|message)(\s+(me|us|them|these|those|it|this|that|stuff|anything|any more|anymore))*(\s+(to me|to us|please|now|already|thanks|thank you))*$|\b(stop|quit|cease)\s+(sending|texting|messaging)\s+(them|these|those|stuff)\b",
        true,
    ),
    (
        "make_them_stop",
        r"\bmake\s+((these|the|your|those|this|them|all the)\s+)?(text|message|spam|promo)\w*\s+stop\b",
        false,
    ),
    (
        "forget_my_number",
        r"\bforget\s+(this|my)\s+(phone\s+)?number\b|\bforget\s+you\s+(ever\s+)?had\s+my\s+number\b",
        false,
    ),
    (
        "texts_are_annoying",
        r"\b(text|message)\w*\s+(are|is|r)\s+(so\s+|really\s+|too\s+)?(annoying|spam|harassment|too much|out of control|excessive)\b|\bthis is harassment\b",
        false,
    ),
    (
        "not_interested",
        r"^((i am|im|i m|sorry|no|nope|thanks|thank you)\s+)*(really |just |totally )?not interested( (anymore|thanks|thank you|please|stop|at all|bye|sorry))*$|\bnot interested\s+(stop|please stop|remove me|bye)\b|\bnumber\b.*\bnot interested$",
        false,
    ),
    (
        "cancel_subscription",
        r"\bcancel\s+(my\s+|the\s+|these\s+|your\s+|this\s+|all\s+)?((text|sms|marketing|promo|promotional)\s+)?(subscription|text|message|alert|notification|sms)",
        true,
    ),
    // Spanish
    (
        "es_no_mas",
        r"\bno\s+(mas\s+|quiero\s+((recibir|mas|sus|tus|estos|los)\s+)*)(mensaje|texto|text|message|promocion|promociones|oferta|ofertas|publicidad|sms)",
        false,
    ),
    (
        "es_no_me_manden",
        r"\bno\s+me\s+(manden|mandes|mande|envien|envies|envie|escriban|escribas|escriba|contacten|contactes|molesten|molestes|text\w*)\b|\bno\s+(manden|mande|envien|envie|escriban)\s+(mas\s+)?(mensaje|text|sms|promociones|ofertas)",
        false,
    ),
    (
        "es_no_vuelvan",
        r"\bno\s+(me\s+|nos\s+)?(vuelvan|vuelvas|vuelva)\s+a\s+(escribir|mandar|enviar|contactar|llamar|molestar|text)",
        false,
    ),
    (
        "es_deja_de",
        r"\b(deja|dejen|deje|dejes|dejar|para|paren|parar|pare|parem|parale|parenle)\s+de\s+(me\s+)?(enviar|mandar|escribir|contactar|molestar|text\w*)",
        false,
    ),
    ("es_baja", r"\b(dar|darme|dame|denme|doy|deme|de)\s+de\s+baja\b|\bbasta de (mensaje|texto|text)", false),
    (
        "es_lista",
        r"\b(saca|saquen|sacame|saquenme|sacarme|quita|quiten|quitame|quitenme|quitarme|quitarlo|quitenlo|borra|borren|borrame|borrenme|borrarme|elimina|eliminen|eliminame|eliminenme|eliminarme)\s+de\s+(la|su|tu|esta|sus|tus)\s+lista",
        false,
    ),
    (
        "es_borra_numero",
        r"\b(borra|borrar|borren|elimina|eliminar|eliminen|quita|quitar|quiten)\s+(mi|este)\s+(numero|telefono)\b|\b(bor|elimin|quit)\w*\s*(lo|la)?\b.*\bnumero equivocado\b|\bnumero equivocado\b",
        false,
    ),
    ("es_not_my_number", r"\b(ya\s+)?no\s+es\s+mi\s+numero\b|\bnumero\s+ya\s+no\s+es\s+de\b", false),
    (
        "es_imperative_remove_me",
        r"\b(borrenme|quitenme|saquenme|eliminenme|borrame|quitame|sacame|eliminame|desuscribanme|darme de baja)\b",
        false,
    ),
    ("es_no_me_con_mensajes", r"\bno\s+me\s+\w+\s+con\s+(sus|tus|los|tantos|esos|estos)\s+(mensaje|text)", false),
    ("es_favor_de_no", r"\bfavor de no\s+(escribir|mandar|enviar|contactar|text\w*)", false),
    (
        "es_report",
        r"\b(voy a|vamos a)\s+(reportar|denunciar|demandar)|\b(los|les|te)\s+(voy a\s+)?(reportar|denunciar|demandar|reporto|denuncio)\b",
        false,
    ),
    ("es_cancelar", r"\bcancel\w*\s+(la\s+|mi\s+|los\s+|las\s+|sus\s+|mis\s+)?(suscripcion|mensaje|text|sms)", false),
    ("es_no_enviar_mas", r"\bno\s+(enviar|mandar|escribir)\w*\s+(mas|ningun)\b", false),
    (
        "es_paren_con",
        r"\b(paren|para|pare|parale|parenle|basta|ya basta)\s+(ya\s+)?(con|de)\s+((los|las|sus|tus|tanto|tantos)\s+)?(mensaje|texto|text|message|promocion|promociones|ofertas)",
        false,
    ),
    ("es_no_autorizo", r"\bno\s+(autorizo|doy permiso|acepto)\b", false),
    ("es_no_me_interesa", r"^(\w+\s+){0,3}no me interesa(\s+\w+){0,3}$", false),
    (
        "pt_cancelar",
        r"\b(cancelar|parar)\s+(o\s+recebimento|de\s+receber)\b|\bnao\s+quero\s+mais\s+(receber|mensaje)",
        false,
    ),
    (
        "pt_tira_da_lista",
        r"\b(tira|tire|tirem|remove|remova|removam|exclui|exclua)\s+(me\s+|meu numero\s+)?(dessa|desta|da|de sua|da sua)\s+lista\b",
        false,
    ),
    // French and Portuguese
    ("fr_arretez", r"\barret(ez|er|e)?\s+de\b", false),
    ("fr_ne_plus", r"\bne\s+(veux|voulons|souhaite)\s+plus\b", false),
    (
        "fr_retirez",
        r"\b(retirez|retire|retirer|enlevez|enlever|supprimez|supprimer)\s*(moi|mon numero)\b|\bde\s+votre\s+liste\b",
        false,
    ),
];

/// Possible opt-outs, checked only when no clear rule fired.
const POSSIBLE_RULES: &[(&str, &str)] = &[
    ("how_to_stop", r"\bhow (do|can|to|would|should) (i |we )?(stop|unsubscribe|optout|get off|get these to stop)\b"),
    (
        "too_many_messages",
        r"\b(too many|so many|enough|constant|constantly|keep getting|keep sending|keep texting|every day|daily)\b.*\b(text|message|spam|promo)|\b(text|message)\b.*\b(too much|too often|every day|daily)\b",
    ),
    ("why_texting", r"\bwhy (do|are|r|does|is) (you|u|this number|this) (keep )?(text|message|contact)"),
    ("who_is_this", r"^(who (is|s) this|who are you|who is texting|how did you get (my|this) number)\b"),
    ("goodbye", r"^(goodbye|bye|good bye|bye bye|adios)$"),
    ("less_often", r"\b(less often|fewer (text|message)|only (contact|text|email) me|pause|until after|for now)\b"),
    (
        "near_contact",
        r"\b(stop|unsubscribe|optout|baja|remove|quit)\b.*\b(text|message|number|list|contact|mensaje)\b|\b(text|message|number|list|mensaje)\b.*\b(stop|unsubscribe|optout|remove)\b",
    ),
];

/// Verbs that, with a contact noun close after them, ask us to stop.
const STOP_VERBS: &[&str] =
    &["stop", "quit", "cease", "end", "discontinue", "halt", "turnoff", "pause", "cutitout", "knockitoff"];
/// Promotions: "stop sending me your deals" asks us to stop, unless the sender is laughing
/// ("STOP, these deals 😂").
const PROMO_NOUNS: &[&str] = &["deal", "deals", "offer", "offers", "coupon", "coupons", "sale", "sales", "discounts"];
/// Lists a customer may ask to come off that are not our texting list.
const RETAIL_LISTS: &[&str] =
    &["waitlist", "wishlist", "cart", "order", "waiting", "registry", "reservation", "backorder"];
/// What is being stopped, when it is us.
const CONTACT_NOUNS: &[&str] = &[
    "text",
    "message",
    "spam",
    "promo",
    "promos",
    "promotion",
    "promotions",
    "notification",
    "notifications",
    "alert",
    "alerts",
    "ad",
    "ads",
    "marketing",
    "crap",
    "junk",
    "contact",
    "sms",
    "mensaje",
    "robotext",
    "robotexts",
];
/// Words a message may contain besides "stop" and still be a plain stop ("stop please!!").
const POLITE_FILLER: &[&str] = &[
    "please",
    "now",
    "it",
    "already",
    "thanks",
    "thank",
    "you",
    "ok",
    "okay",
    "all",
    "asap",
    "seriously",
    "just",
    "right",
    "immediately",
    "for",
    "real",
    "good",
    "bye",
    "goodbye",
    "the",
    "this",
    "srsly",
    "por",
    "favor",
    "svp",
    "i",
    "said",
    "again",
    "fine",
    "whatever",
    "ugh",
    "no",
    "nope",
];
/// Words that, as the whole last clause, ask us to stop ("too many texts, please stop").
const FINAL_STOP_WORDS: &[&str] = &["stop", "unsubscribe", "optout", "arret", "alto", "baja"];
/// Words that alone (with politeness) ask us to stop.
const STOP_WORDS: &[&str] = &[
    "stop",
    "quit",
    "end",
    "cancel",
    "unsubscribe",
    "optout",
    "halt",
    "enough",
    "arret",
    "alto",
    "baja",
    "basta",
    "parar",
    "para",
    "td",
];
/// Words that mark a negation right before a trigger.
const NEGATIONS: &[&str] = &["dont", "not", "never", "cant", "wont", "didnt", "doesnt", "shouldnt"];
/// A message asking to get back on the list is not an opt-out (an opt-in, for a person).
const RESUBSCRIBE: &[&str] = &[
    "get back on",
    "back on the list",
    "by accident",
    "by mistake",
    "accidentally",
    "resubscribe",
    "restart",
    "sign back up",
    "opt back in",
];
/// Laughter: "OMG stop 😂" is not a request.
const LAUGHTER: &[&str] = &["😂", "🤣", "😍", "😆", "😅", "🥰", "😜", "lol", "lmao", "haha", "jaja"];

struct Compiled {
    /// "if I unsubscribe, do I lose my points?": a question about the program.
    if_i_stop: Regex,
    /// "does STOP unsubscribe me from everything?": the keyword is what is asked about.
    keyword_as_subject: Regex,
    /// The customer wants to keep getting our texts.
    keeps_texts: Regex,
    /// "why did I stop getting your texts?": a complaint that texts stopped coming.
    texts_stopped: Regex,
    /// All opt-out rules at once: one pass tells which may match.
    opt_out_set: RegexSet,
    opt_out: Vec<(&'static str, Regex, bool)>,
    possible: Vec<(&'static str, Regex)>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| Compiled {
        if_i_stop: Regex::new(r"\bif (i|we) (reply |text |say )?(stop|unsubscribe|optout)").expect("rule compiles"),
        keyword_as_subject: Regex::new(
            r"^(does|will|would|do|can)\s+(replying\s+|texting\s+|text\s+|sending\s+)?(stop|unsubscribe|optout)\s+(unsubscribe|stop|remove|optout|mean|work|cancel|also|apply|affect)",
        )
        .expect("rule compiles"),
        texts_stopped: Regex::new(
            r"\b(i|we)\s+(stop|stopped)\s+(getting|receiving|seeing)\b|\b(havent|have not|not|never)\s+(gotten|got|received|been getting|getting)\s+(any\s+|your\s+|the\s+)*(text|message)|\bdid (i|we) get unsubscribe",
        )
        .expect("rule compiles"),
        keeps_texts: Regex::new(
            r"\b(but|and|please|just)\s+keep\s+((the|your|getting|receiving|sending|me)\s+)*(text|message|sms)|\b(still|do)\s+want\s+((the|your|my)\s+)?(text|message)|\bpero\s+(los\s+)?(mensaje|text)\w*\s+si\b|\b(mensaje|text)\w*\s+(estan|esta)\s+bien\b|\b(text|message|sms)\s+(are|is)\s+(fine|ok|okay|good|better)\b|\btext\s+(me\s+)?instead\b",
        )
        .expect("rule compiles"),
        opt_out_set: RegexSet::new(OPT_OUT_RULES.iter().map(|(_, p, _)| *p)).expect("opt-out rules compile"),
        opt_out: OPT_OUT_RULES
            .iter()
            .map(|(n, p, neg)| (*n, Regex::new(p).expect("opt-out rule compiles"), *neg))
            .collect(),
        possible: POSSIBLE_RULES.iter().map(|(n, p)| (*n, Regex::new(p).expect("possible rule compiles"))).collect(),
    })
}

fn map_word(w: &str) -> &str {
    match w {
        "pls" | "plz" | "plse" | "pleas" | "pleease" | "pleasee" | "pleez" | "pleaseee" | "plox" => "please",
        "u" => "you",
        "ur" | "yr" => "your",
        "txt" | "txts" | "texts" | "texting" | "texted" | "txting" | "textin" | "textos" | "texto" => "text",
        "msg" | "msgs" | "messages" | "messaging" | "messege" | "messeges" | "mesages" | "mesage" | "msging"
        | "msgng" => "message",
        "mensajes" | "mensages" | "msjs" | "msj" | "mensagens" | "mensagem" => "mensaje",
        "stopp" | "stoppp" | "stopppp" | "stahp" | "sotp" | "stopt" | "stp" | "st0p" | "stopping" | "stops" => "stop",
        "unsub" | "unsuscribe" | "unsubcribe" | "unsubscribed" | "unsubscribing" | "unsubscibe" | "desuscribir"
        | "desuscribirme" | "desinscribir" | "desabonner" | "desabonnez" | "desinscribirme" => "unsubscribe",
        "contacting" | "contacted" | "contacts" => "contact",
        "calling" | "calls" => "call",
        "dnt" | "don" => "dont",
        "promotional" => "promo",
        "spamming" => "spam",
        other => other,
    }
}

/// "offf", "pleeease", "stoppppp": a letter typed three or more times counts twice.
fn collapse_repeats(word: &str) -> String {
    crate::text::squeeze_letters(word, 2)
}

/// "unsusbscribe", "unsubscrbe": a long word starting "un" within two edits of
/// "unsubscribe" is that word.
fn fuzzy_unsubscribe(word: String) -> String {
    if word != "unsubscribe"
        && word.starts_with("un")
        && (9..=14).contains(&word.len())
        && edit_distance(&word, "unsubscribe") <= 2
    {
        "unsubscribe".to_string()
    } else {
        word
    }
}

/// Levenshtein distance over bytes (the words are ASCII after folding).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Lower case, accents folded, apostrophes dropped, punctuation/emoji to spaces, SMS
/// spellings mapped to one word each.
pub fn normalize(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            '\'' | '’' | '‘' | '`' | '´' => continue,
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        folded.push(c);
    }
    let joined = folded
        .split_whitespace()
        .map(collapse_repeats)
        .map(|w| map_word(&w).to_string())
        .map(fuzzy_unsubscribe)
        .collect::<Vec<_>>()
        .join(" ");
    // "s t o p": letters typed apart.
    let joined =
        if joined.len() <= 12 && joined.split(' ').all(|w| w.len() == 1) { joined.replace(' ', "") } else { joined };
    joined
        .replace("opt out", "optout")
        .replace("opt me out", "optout")
        .replace("turn off", "turnoff")
        .replace("any more", "anymore")
        .replace("do not", "dont")
        .replace("cease and desist", "cease")
        .replace("cut it out", "cutitout")
        .replace("knock it off", "knockitoff")
}

/// Spanish "dar de baja" with an object that is not us: "dar de baja mi tarjeta", "doy de
/// baja un producto". "darme de baja", "de baja de la lista" and "mi número" stay opt-outs.
fn baja_of_something_else(rest: &str) -> bool {
    const ARTICLES: &[&str] = &["un", "una", "mi", "el", "la", "mis", "los", "las", "este", "esta", "esa", "ese"];
    const OURS: &[&str] =
        &["suscripcion", "mensaje", "text", "numero", "telefono", "celular", "lista", "promociones", "sms"];
    let mut words = rest.split_whitespace();
    matches!((words.next(), words.next()), (Some(a), Some(noun)) if ARTICLES.contains(&a) && !OURS.contains(&noun))
}

/// True when one of the three words before byte offset `at` is a negation.
fn negated_before(norm: &str, at: usize) -> bool {
    norm[..at].split_whitespace().rev().take(3).any(|w| NEGATIONS.contains(&w))
}

/// Verbs that ask someone to stop (not "end", as in "end of season sale").
fn asks_to_stop(verb: &str) -> bool {
    matches!(verb, "stop" | "quit" | "cease" | "cutitout" | "knockitoff")
}

/// A stop verb with a contact noun (or, unless laughing, a promotion) within five words
/// after it, not negated.
fn stop_contact(words: &[&str], laughing: bool) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        STOP_VERBS.contains(w)
            && !words[i.saturating_sub(3)..i].iter().any(|n| NEGATIONS.contains(n))
            && !words.get(i + 1).is_some_and(|n| other_activity(n))
            // "why did I stop getting your texts": the customer is the subject.
            && (i == 0
                || !["i", "we", "did", "they"].contains(&words[i - 1])
                || !words.get(i + 1).is_some_and(|n| ["getting", "receiving", "seeing"].contains(n)))
            && words[i + 1..(i + 6).min(words.len())]
                .iter()
                .any(|n| CONTACT_NOUNS.contains(n) || (!laughing && asks_to_stop(w) && PROMO_NOUNS.contains(n)))
    })
}

/// "stop selling junk", "stop charging me": a verb in -ing after "stop" that is not a way of
/// contacting someone names another activity.
fn other_activity(word: &str) -> bool {
    const CONTACTING: &[&str] = &[
        "sending",
        "getting",
        "receiving",
        "bothering",
        "harassing",
        "emailing",
        "pestering",
        "blowing",
        "hitting",
        "spamming",
        "pinging",
    ];
    word.len() > 4 && word.ends_with("ing") && !CONTACTING.contains(&word)
}

/// Only words of `stops` and politeness, with at least one of `stops`.
fn plain_stop(words: &[&str], stops: &[&str]) -> bool {
    words.iter().any(|w| stops.contains(w)) && words.iter().all(|w| stops.contains(w) || POLITE_FILLER.contains(w))
}

/// The last clause of the raw text (split at punctuation), normalised.
fn last_clause(text: &str) -> String {
    text.rsplit([',', '.', ';', '!', '?', '\n']).map(normalize).find(|clause| !clause.is_empty()).unwrap_or_default()
}

/// Classifies a message that is not a single keyword.
pub fn classify(text: &str) -> NlVerdict {
    let norm = normalize(text);
    if norm.is_empty() {
        return NlVerdict::None;
    }
    let c = compiled();
    let lower = text.to_lowercase();
    let words: Vec<&str> = norm.split_whitespace().collect();
    let laughing = LAUGHTER.iter().any(|l| lower.contains(l));
    let resubscribing = RESUBSCRIBE.iter().any(|r| lower.contains(r));
    // A question about how the program works ("what happens if I reply STOP?").
    let asks_about_the_program = norm.contains("what happens if")
        || c.keyword_as_subject.is_match(&norm)
        || (text.contains('?') && (norm.contains("reply stop") || c.if_i_stop.is_match(&norm)));
    // "…but keep the texts coming", "texts are fine": whatever is being stopped, it is not us.
    let keeps_texts = c.keeps_texts.is_match(&norm);
    // Unsubscribing from e-mail, or keeping the texts, is not a text opt-out.
    let about_email =
        (norm.contains("email") || norm.contains("newsletter") || norm.contains(" mail") || norm.contains("correo"))
            && (!words.iter().any(|w| ["text", "message", "sms"].contains(w)) || norm.contains("keep"));
    if resubscribing {
        return NlVerdict::NotOptOut("resubscribe");
    }
    if keeps_texts {
        return NlVerdict::NotOptOut("keeps_texts");
    }
    if c.texts_stopped.is_match(&norm) {
        return NlVerdict::NotOptOut("texts_stopped_coming");
    }
    if stop_contact(&words, laughing) {
        return NlVerdict::OptOut("stop_contact");
    }
    for i in c.opt_out_set.matches(&norm).iter() {
        let (name, re, cancelled_by_negation) = &c.opt_out[i];
        let Some(m) = re.find(&norm) else { continue };
        if *cancelled_by_negation && negated_before(&norm, m.start()) {
            continue;
        }
        if (*name == "unsubscribe" && about_email)
            || (asks_about_the_program && matches!(*name, "unsubscribe" | "tcpa" | "said_stop"))
        {
            continue;
        }
        // "remove me from the waitlist" is about a product, not our list.
        if *name == "remove_me" && norm[m.end()..].split_whitespace().take(4).any(|w| RETAIL_LISTS.contains(&w)) {
            continue;
        }
        // "dar de baja mi tarjeta": cancelling a card or a product, not the texts.
        if *name == "es_baja" && baja_of_something_else(&norm[m.end()..]) {
            continue;
        }
        // Spanish "no dejen de mandarme ofertas" is the opposite of an opt-out.
        if name.starts_with("es_") && norm[..m.start()].split_whitespace().next_back() == Some("no") {
            continue;
        }
        return NlVerdict::OptOut(name);
    }
    if !laughing && plain_stop(&words, STOP_WORDS) {
        return if text.contains('?') { NlVerdict::Possible("stop_question") } else { NlVerdict::OptOut("plain_stop") };
    }
    if words.len() > 1 {
        // "…, please stop sending": a last clause that only asks us to stop. Laughter turns
        // only a bare "stop" into a joke.
        let last = last_clause(text);
        let all: Vec<&str> = last.split_whitespace().collect();
        let clause: Vec<&str> = all
            .iter()
            .copied()
            .filter(|w| !["sending", "text", "message", "them", "these", "me"].contains(w))
            .collect();
        let explicit = clause.len() < all.len();
        if (explicit || !laughing) && plain_stop(&clause, FINAL_STOP_WORDS) {
            return NlVerdict::OptOut("final_stop");
        }
    }
    if laughing {
        return NlVerdict::NotOptOut("laughing");
    }
    if about_email && norm.contains("keep") {
        return NlVerdict::NotOptOut("other_channel");
    }
    if asks_about_the_program {
        return NlVerdict::NotOptOut("question_about_the_program");
    }
    for (name, re) in &c.possible {
        if let Some(m) = re.find(&norm)
            && !negated_before(&norm, m.start())
        {
            return NlVerdict::Possible(name);
        }
    }
    NlVerdict::None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_s_plain_word_opt_outs_are_caught() {
        for text in [
            "please stop texting me",
            "take me off your list",
            "don't text me anymore",
            "unsubscribe me pls",
            "wrong number, remove me",
            "no more messages",
            "no más mensajes",
            "ya no me manden mensajes",
            "BAJA",
            "Deja de enviarme mensajes",
            "STOP PLEASE",
            "stopp plz",
            "STOP!! 😡",
            "Please stop messaging me",
            "I don't want these messages",
            "leave me alone",
            "Can you stop texting me and email me instead",
            "too many texts, please stop",
        ] {
            assert!(matches!(classify(text), NlVerdict::OptOut(_)), "{text:?} -> {:?}", classify(text));
        }
    }

    #[test]
    fn the_issue_s_hard_negatives_are_not_opt_outs() {
        for text in [
            "don't stop the deals",
            "I'll stop by the store",
            "when does the sale end?",
            "cancel my order",
            "can't wait!",
            "Stop joking around",
            "Yup next stop.",
            "do you have the blouse in red?",
            "OMG stop 😂😂 I need that coat",
            "Don't remove me from the list, I want the VIP deals",
            "Stop sending me the wrong size!!",
        ] {
            assert!(matches!(classify(text), NlVerdict::None | NlVerdict::NotOptOut(_)), "{text:?}");
        }
    }

    #[test]
    fn unclear_cases_are_possible_opt_outs() {
        assert!(matches!(classify("how do I stop these?"), NlVerdict::Possible(_)));
        assert!(matches!(classify("why do you keep texting me"), NlVerdict::Possible(_)));
        assert!(matches!(classify("goodbye"), NlVerdict::Possible(_)));
        assert!(matches!(classify("stop?"), NlVerdict::Possible(_)));
    }

    #[test]
    fn normalisation_maps_sms_spellings() {
        assert_eq!(normalize("Pls STOP txting me!!! 🛑"), "please stop text me");
        assert_eq!(normalize("No más mensajes"), "no mas mensaje");
        assert_eq!(normalize("Opt out"), "optout");
        assert_eq!(normalize("s t o p"), "stop");
    }
}
