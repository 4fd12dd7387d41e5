-- A running campaign checks the share of failures among its last finished sends after every chunk
-- (broadcast::pausing::too_many_failures): read newest first from this index instead of sorting every
-- finished row of the campaign, which grows to the whole audience.
CREATE INDEX campaign_recipients_finished ON campaign_recipients (campaign_id, updated_at DESC)
    WHERE state IN ('sent', 'failed');
