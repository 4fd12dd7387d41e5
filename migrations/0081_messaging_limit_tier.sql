-- The messaging limit (issue 21): how many unique customers the business may message outside a
-- customer-service window in a moving 24 hours. Meta sets it per business portfolio since 2025-10-07 and
-- reports it per number (`whatsapp_business_manager_messaging_limit`, earlier `messaging_limit_tier`);
-- `wacrm accounts edit --messaging-tier` records it and `wacrm broadcast plan` checks a campaign against
-- it. NULL: not recorded. 1K is the tier Meta replaced by 2K; numbers still reporting it keep it.
ALTER TABLE whatsapp_accounts ADD COLUMN messaging_limit_tier TEXT
    CHECK (messaging_limit_tier IN ('250', '1K', '2K', '10K', '100K', 'unlimited'));
