//! Domain types stored as text: a `Phone` or `Sku` column, or one of the domain's words (a
//! consent kind, a turn decision, an outbox kind or status, an escalation status or reason),
//! decodes straight into the type, parsed on the way in. A stored value that does not parse
//! (written by hand, or before the value was validated) is a decode error naming the column
//! and saying why, not a panic. (sqlx's `#[sqlx(try_from = "String")]` would do the parsing
//! too, but reports a failure as "unprintable error".) Values are bound as text with
//! `.as_str()`.

use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Type};

use crate::domain::{
    ConsentKind, DeliveryStatus, EscalationReason, EscalationStatus, OutboxKind, OutboxStatus, Phone, SendClass, Sku,
    TurnDecision, WebhookEvent,
};

/// `Type` and `Decode` for a type stored as its text and parsed by `TryFrom<String>`.
macro_rules! parsed_text_column {
    ($ty:ty) => {
        impl<DB: Database> Type<DB> for $ty
        where
            String: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $ty
        where
            String: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <String as Decode<'r, DB>>::decode(value)?;
                Ok(<$ty>::try_from(text)?)
            }
        }
    };
}

parsed_text_column!(Phone);
parsed_text_column!(Sku);
parsed_text_column!(ConsentKind);
parsed_text_column!(TurnDecision);
parsed_text_column!(OutboxKind);
parsed_text_column!(OutboxStatus);
parsed_text_column!(EscalationStatus);
parsed_text_column!(EscalationReason);
parsed_text_column!(WebhookEvent);
parsed_text_column!(DeliveryStatus);
parsed_text_column!(SendClass);
