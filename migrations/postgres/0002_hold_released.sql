-- A reviewer can decide that a possible opt-out was not one: the ledger records that as
-- `hold_released` (the consent state before the hold applies again).
alter table consent_events drop constraint consent_events_kind_check;
alter table consent_events add constraint consent_events_kind_check
    check (kind in ('opt_in', 'opt_out', 'hold', 'hold_released'));
