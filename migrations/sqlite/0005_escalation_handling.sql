-- Escalations are closed by a reviewer: resolved (the person answered) or handed back to the
-- bot; either way the bot may answer the conversation again.
alter table escalations add column resolution text check (resolution in ('resolved', 'handed_back'));
alter table escalations add column resolved_by text;
alter table escalations add column resolved_at text;
-- Texts that arrive while a person owns the conversation attach to its open escalation.
alter table turns add column escalation_id integer references escalations(id);
-- What went into the turn's scores (confidence factors, intent, sentiment trend), JSON.
alter table turns add column scores text not null default '{}';
-- The thread's latest turns (scoring reads them every turn).
create index turns_conversation on turns(conversation_id, inbound_message_id);
