-- Reviewer accounts for the console: argon2id password hashes, failed-login counts and
-- lock-outs.
create table reviewers (
    id integer primary key,
    name text not null unique,
    password_hash text not null,
    failed_logins integer not null default 0,
    locked_until text,
    created_at text not null
);

-- Console sessions. The cookie carries a random token; only its SHA-256 is stored, with the
-- session's CSRF token for forms.
create table reviewer_sessions (
    token_hash text primary key,
    reviewer_id integer not null references reviewers(id),
    csrf_token text not null,
    created_at text not null,
    expires_at text not null
);

-- Every reviewer action: who, what, on what, when.
create table reviewer_actions (
    id integer primary key,
    reviewer_id integer references reviewers(id),
    action text not null,
    target text,
    detail text not null default '',
    created_at text not null
);
create index reviewer_actions_reviewer on reviewer_actions(reviewer_id, id);
