-- The dialogue state a turn leaves for the next one (the products the bot offered, the
-- attributes asked, what the text referred to): the next turn of the conversation reads it
-- from its latest turn to resolve "how much is it?" or "the first one". Kept on the turn,
-- written in the turn's own transaction, so a retried turn and the audit see the same state.
alter table turns add column dialogue text not null default '{}';
