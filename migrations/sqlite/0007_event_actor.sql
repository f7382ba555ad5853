-- Who caused each event (DESIGN.md invariant 10): `staff:{id}`, `device:{id}`,
-- `operator`, `citizen`, `system[:{process}]`. Older events keep NULL and
-- read as `system`.
ALTER TABLE events ADD COLUMN actor TEXT;
