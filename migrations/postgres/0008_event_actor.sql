-- Who caused each event (DESIGN.md invariant 10), on home rows only:
-- `staff:{id}`, `device:{id}`, `operator`, `citizen`, `system[:{process}]`.
-- Events written before actors were recorded keep NULL and read as `system`.
-- A nullable column without default: added without rewriting the table.
ALTER TABLE events ADD COLUMN actor text;
