-- Who holds a mail's claim: the process incarnation that made it. An
-- incarnation keeps a lease named `incarnation:<id>` alive while it runs;
-- once that lapses (the process died), its claims are taken over at once
-- instead of after the whole claim lease. Claims made before this column
-- existed (NULL) still wait out the lease.
ALTER TABLE sent_mails ADD COLUMN claimed_by text;
