"""Everything ctstat writes: forms, marked-up copies, rollup workbooks; atomic and inert."""
