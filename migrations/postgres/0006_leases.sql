-- Named leases: a thing owned by one live process at a time (a matcher's
-- office, a matcher's membership). A lease is the owner's until `expires_at`;
-- the owner renews it, anyone may take it over once it has expired.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL
);
