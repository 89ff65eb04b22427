-- A store policy in other languages, so a customer who writes in Spanish is answered from the
-- store's own Spanish wording with the same figures: a JSON object by ISO 639-1 code,
-- `{"es": {"title": "...", "body": "..."}}`, `{}` for a policy in one language.
alter table policies add column translations text not null default '{}';
