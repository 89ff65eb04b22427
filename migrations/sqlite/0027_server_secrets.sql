-- Secrets the server makes for itself on first start and every replica shares (issue 21):
-- `login_csrf` signs the login form's CSRF token, so a token an attacker sets in a cookie
-- and a form is refused. The twin for the other database is migrations/postgres/0027_server_secrets.sql.
create table server_secrets (
    name text primary key,
    value text not null,
    created_at text not null
);
