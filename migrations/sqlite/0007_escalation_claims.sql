-- A reviewer claims an escalation so two people don't answer the same customer.
alter table escalations add column assigned_to integer references reviewers(id);
alter table escalations add column assigned_at text;
